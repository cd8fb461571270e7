package dhcp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// envInNetns marks the copy of the test binary that runs inside its own network namespace.
const envInNetns = "FERRITE_DHCP_TEST_NETNS"

// TestMain runs the tests, as root, in a copy of the test binary started in a fresh network
// namespace, so the Server (which lists interfaces and opens packet sockets from any
// thread) sees only the test's devices and the host's network is never touched.
func TestMain(m *testing.M) {
	if os.Geteuid() != 0 || os.Getenv(envInNetns) != "" {
		if os.Getenv(envInNetns) != "" {
			if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "lo up: %v: %s\n", err, out)
				os.Exit(1)
			}
		}
		os.Exit(m.Run())
	}
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Env = append(os.Environ(), envInNetns+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		if exit, ok := err.(*exec.ExitError); ok {
			os.Exit(exit.ExitCode())
		}
		fmt.Fprintf(os.Stderr, "cannot run the tests in a new network namespace: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// needNetns skips a test that needs the namespace and busybox, saying which is missing.
func needNetns(t *testing.T) {
	t.Helper()
	if os.Getenv(envInNetns) == "" {
		t.Skip("needs root: the test runs a DHCP client in network namespaces over a veth pair")
	}
	for _, tool := range []string{"busybox", "ip", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
}

// guest is a process holding its own network and mount namespaces: a stand-in for a VM
// on the far end of a tap. Its /dev/console is a file the test reads.
type guest struct {
	t       *testing.T
	pid     int
	console string
	bin     string // directory whose ip is busybox's, as in the test guest's image
}

func newGuest(t *testing.T) *guest {
	t.Helper()
	sleep := exec.Command("sleep", "300")
	sleep.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET | syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	if err := sleep.Start(); err != nil {
		t.Fatalf("start guest namespace: %v", err)
	}
	t.Cleanup(func() { sleep.Process.Kill(); sleep.Wait() })
	dir := t.TempDir()
	g := &guest{t: t, pid: sleep.Process.Pid, console: filepath.Join(dir, "console"), bin: filepath.Join(dir, "bin")}
	busybox, _ := exec.LookPath("busybox")
	if err := os.Mkdir(g.bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(busybox, filepath.Join(g.bin, "ip")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(g.console, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// Private mounts first, so the console bind mount stays in the guest.
	g.must("sh", "-c", "mount --make-rprivate / && mount --bind "+g.console+" /dev/console && ip link set lo up")
	return g
}

// run runs a command in the guest's namespaces.
func (g *guest) run(args ...string) (string, error) {
	cmd := exec.Command("nsenter", append([]string{"-t", fmt.Sprint(g.pid), "-n", "-m", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+g.bin+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (g *guest) must(args ...string) string {
	g.t.Helper()
	out, err := g.run(args...)
	if err != nil {
		g.t.Fatalf("guest %v: %v: %s", args, err, out)
	}
	return out
}

// dhcp runs busybox udhcpc once on eth0 with the test guest's hook script.
func (g *guest) dhcp(tries int, flags ...string) (string, error) {
	script, err := filepath.Abs("../../hack/guest/udhcpc.sh")
	if err != nil {
		g.t.Fatal(err)
	}
	args := []string{"busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-t", fmt.Sprint(tries), "-T", "1", "-s", script}
	return g.run(append(args, flags...)...)
}

// host runs a command in the test's own (server-side) namespace.
func host(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%v: %v: %s", args, err, out)
	}
}

// link creates the veth pair tap (server side, up) and the guest's eth0 with mac.
func link(t *testing.T, g *guest, tap, mac string) {
	t.Helper()
	host(t, "ip", "link", "add", tap, "type", "veth", "peer", "name", "eth0")
	host(t, "ip", "link", "set", "eth0", "netns", fmt.Sprint(g.pid))
	host(t, "ip", "link", "set", tap, "up")
	g.must("ip", "link", "set", "eth0", "address", mac)
	g.must("ip", "link", "set", "eth0", "up")
	t.Cleanup(func() { exec.Command("ip", "link", "del", tap).Run() })
}

// serve runs a Server for the test's duration, logging to the test.
func serve(t *testing.T, cfg Config, leases []Lease) *Server {
	t.Helper()
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := New(cfg)
	s.Set(leases)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return s
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

var _ io.Writer = testWriter{}

// eventually polls check until it returns nil or the deadline passes.
func eventually(t *testing.T, d time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The socket's filter passes DHCP requests and IPv6 router and neighbour solicitations
// and nothing else, so a guest's ordinary traffic is never copied to the responder.
func TestFilterKeepsOnlyRequests(t *testing.T) {
	needNetns(t)
	host(t, "ip", "link", "add", "fa", "type", "veth", "peer", "name", "fb")
	t.Cleanup(func() { exec.Command("ip", "link", "del", "fa").Run() })
	for _, dev := range []string{"fa", "fb"} {
		// No kernel IPv6 traffic (DAD, solicitations) to confuse the count.
		if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+dev+"/disable_ipv6", []byte("1"), 0); err != nil {
			t.Fatal(err)
		}
		host(t, "ip", "link", "set", dev, "up")
	}
	fa, err := net.InterfaceByName("fa")
	if err != nil {
		t.Fatal(err)
	}
	fb, _ := net.InterfaceByName("fb")
	recv, err := listen(fa.Index)
	if err != nil {
		t.Fatal(err)
	}
	defer recv.close()
	send, err := listen(fb.Index)
	if err != nil {
		t.Fatal(err)
	}
	defer send.close()

	mac, gw := fb.HardwareAddr, netip.MustParseAddr("169.254.1.1")
	ll := netip.MustParseAddr("fe80::2")
	icmp := func(typ byte) []byte {
		return buildICMP6(mac, multicastMAC(allNodes), ll, allNodes, append([]byte{typ}, make([]byte, 23)...))
	}
	frames := []struct {
		name string
		pass bool
		f    []byte
	}{
		{"UDP to port 68", false, buildUDP4(mac, broadcastMAC, gw, gw, 67, 68, []byte("x"))},
		{"UDP to port 53", false, buildUDP4(mac, broadcastMAC, gw, gw, 1000, 53, []byte("x"))},
		{"ICMPv6 echo", false, icmp(128)},
		{"router advertisement", false, icmp(icmpRouterAdvert)},
		{"router solicitation", true, icmp(icmpRouterSolicit)},
		{"neighbour solicitation", true, icmp(icmpNeighborSolicit)},
		{"UDP to port 67", true, buildUDP4(mac, broadcastMAC, netip.IPv4Unspecified(), gw, 68, 67, []byte("x"))},
	}
	for _, f := range frames {
		if err := send.write(f.f); err != nil {
			t.Fatalf("send %s: %v", f.name, err)
		}
	}
	buf := make([]byte, 2048)
	for _, f := range frames {
		if !f.pass {
			continue
		}
		recv.file.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := recv.read(buf)
		if err != nil {
			t.Fatalf("want %s, read: %v", f.name, err)
		}
		if !bytes.Equal(buf[:n], f.f) {
			t.Fatalf("want %s, received %x", f.name, buf[:n])
		}
	}
	recv.file.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := recv.read(buf); err == nil {
		t.Fatalf("filter passed an unexpected frame: %x", buf[:n])
	}
}
