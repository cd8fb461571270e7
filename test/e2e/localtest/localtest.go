// Package localtest holds what the end-to-end suites that run a local cluster (hack/localcluster)
// do the same way: run bin/kubectl and other commands against it, wait for a condition, read a
// machine's console and an object's Events.
package localtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Suite is a running local cluster as a suite sees it.
type Suite struct {
	// Root is the repository's root (bin/ holds kubectl and kubectl-ferrite).
	Root string
	// Kubeconfig is the cluster's admin kubeconfig.
	Kubeconfig string
	// Namespace is where the suite's objects live; kubectl runs with -n Namespace.
	Namespace string
	// Kube is a client of the cluster.
	Kube kubernetes.Interface
}

// Run runs a command with stdin (may be empty) and the cluster's KUBECONFIG, and returns its
// combined output. A relative name is a path under Root; a bare name is looked up on PATH.
func (s *Suite) Run(t testing.TB, stdin, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if strings.Contains(name, "/") && !filepath.IsAbs(name) {
		name = filepath.Join(s.Root, name)
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+s.Kubeconfig)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// Virsh runs virsh against the system libvirtd (quiet) and returns its trimmed output.
func (s *Suite) Virsh(t testing.TB, args ...string) (string, error) {
	t.Helper()
	out, err := s.Run(t, "", "virsh", append([]string{"-q", "-c", "qemu:///system"}, args...)...)
	return strings.TrimSpace(out), err
}

// Kubectl runs bin/kubectl in the suite's namespace and returns its output and error.
func (s *Suite) Kubectl(t testing.TB, args ...string) (string, error) {
	t.Helper()
	return s.Run(t, "", "bin/kubectl", append([]string{"-n", s.Namespace}, args...)...)
}

// MustKubectl is Kubectl that fails the test on an error.
func (s *Suite) MustKubectl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := s.Kubectl(t, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// Apply pipes a manifest to kubectl apply in the suite's namespace.
func (s *Suite) Apply(t testing.TB, manifest string) {
	t.Helper()
	if out, err := s.Run(t, manifest, "bin/kubectl", "-n", s.Namespace, "apply", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
}

// ConsoleLog is what `kubectl ferrite console NAME --logs` prints.
func (s *Suite) ConsoleLog(t testing.TB, name string) (string, error) {
	t.Helper()
	return s.Run(t, "", "bin/kubectl-ferrite", "console", name, "--logs", "-n", s.Namespace)
}

// TypeInto types line on the serial console of the machine name with kubectl ferrite console:
// an empty line first (the guest's shell may be asking the terminal for its cursor position),
// then the line, then Ctrl-] to leave, with pauses so that each part reaches the guest before
// the session ends.
func (s *Suite) TypeInto(t testing.TB, name, line string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(s.Root, "bin", "kubectl-ferrite"), "console", name, "-n", s.Namespace)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+s.Kubeconfig)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{"\n", line, "\x1d"} {
		time.Sleep(time.Second)
		_, _ = io.WriteString(in, part)
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("console of %s: %v\n%s", name, err, out.String())
	}
}

// WaitConsole waits until the machine's console log holds every one of texts, and returns it.
func (s *Suite) WaitConsole(t testing.TB, name string, timeout time.Duration, texts ...string) string {
	t.Helper()
	var out string
	Eventually(t, timeout, fmt.Sprintf("the console of %s to show %q", name, texts), func() error {
		var err error
		if out, err = s.ConsoleLog(t, name); err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		for _, text := range texts {
			if !strings.Contains(out, text) {
				return fmt.Errorf("no %q in %d bytes", text, len(out))
			}
		}
		return nil
	})
	return out
}

// Events are the Events recorded on the object name in the suite's namespace, as
// "Type Reason: note" lines.
func (s *Suite) Events(t testing.TB, name string) []string {
	t.Helper()
	list, err := s.Kube.EventsV1().Events(s.Namespace).List(context.Background(), metav1.ListOptions{FieldSelector: "regarding.name=" + name})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		out = append(out, fmt.Sprintf("%s %s: %s", e.Type, e.Reason, e.Note))
	}
	return out
}

// Eventually retries f every half second until it returns nil, and fails the test with f's last
// error when timeout passed.
func Eventually(t testing.TB, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
}
