// Package net_test holds Ferrite's end-to-end networking suites: agents and reflectors as
// separate processes in network namespaces, interop with gobgpd and FRR, and the route
// benchmark. They need root and Debian packages, so they run only when `make e2e-net` or
// `make bench-routes` sets FERRITE_E2E_NET=1 after installing them.
package net_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/vishvananda/netns"
)

func requireE2E(t *testing.T, tools ...string) {
	t.Helper()
	if os.Getenv("FERRITE_E2E_NET") == "" {
		t.Skip("network end-to-end suite: run `make e2e-net` (root; installs iproute2, gobgpd, frr, ping)")
	}
	if os.Geteuid() != 0 {
		t.Skip("network end-to-end suite needs root")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed: `make e2e-net` installs it", tool)
		}
	}
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds route-reflector and netagent once per test binary (or uses FERRITE_BIN).
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if d := os.Getenv("FERRITE_BIN"); d != "" {
			binDir = d
			return
		}
		binDir, buildErr = os.MkdirTemp("", "ferrite-net-bin")
		if buildErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", binDir+"/",
			"github.com/ferrite-dev/ferrite/cmd/route-reflector", "github.com/ferrite-dev/ferrite/cmd/netagent").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

// run runs a command and fails the test with its output when it fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// try runs a command and reports whether it succeeded.
func try(name string, args ...string) (string, bool) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err == nil
}

// process is a long-running program of the test, logging to a file.
type process struct {
	cmd *exec.Cmd
	log string
}

// start runs args (in network namespace ns when not empty) until the test ends.
func start(t *testing.T, ns string, args ...string) *process {
	t.Helper()
	if ns != "" {
		args = append([]string{"ip", "netns", "exec", ns}, args...)
	}
	log := filepath.Join(t.TempDir(), filepath.Base(args[len(args)-1])+".log")
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, log: log}
	t.Cleanup(func() {
		p.stop()
		f.Close()
		if t.Failed() {
			b, _ := os.ReadFile(log)
			t.Logf("--- %s:\n%s", strings.Join(args, " "), tail(b, 40))
		}
	})
	return p
}

func (p *process) stop() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}

func tail(b []byte, n int) []byte {
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return bytes.Join(lines, []byte("\n"))
}

// inNetns runs fn on a thread inside the named network namespace (for HTTP calls to agents
// that listen only there).
func inNetns(t *testing.T, name string, fn func()) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		ns, err := netns.GetFromName(name)
		if err == nil {
			defer ns.Close()
			err = netns.Set(ns)
		}
		if err != nil {
			done <- err
			return
		}
		fn()
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatalf("enter netns %s: %v", name, err)
	}
}

// freePort returns a TCP port free on the loopback device now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
