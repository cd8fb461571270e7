package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver"
	"github.com/ferrite-dev/ferrite/apiserver/standalone"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/poollet/console/consoletest"
)

// syncBuffer collects output written from the session's goroutines.
type syncBuffer struct {
	mu   sync.Mutex
	data bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.data.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.data.String()
}

// plugin runs `kubectl ferrite args...` with stdin and returns its exit code, stdout and stderr.
func plugin(stdin io.Reader, args ...string) (int, string, string) {
	out, errOut := &syncBuffer{}, &syncBuffer{}
	code := run(context.Background(), genericiooptions.IOStreams{In: stdin, Out: out, ErrOut: errOut}, args)
	return code, out.String(), errOut.String()
}

// TestConsole runs the plugin against an in-process ferrite-apiserver (with the poollet
// flags), a machinepoollet's console endpoint and the fake runtime: --logs prints the
// scrollback; an attached session with piped input shows the scrollback and the echo of what
// is typed and leaves at Ctrl-]; errors are one line.
func TestConsole(t *testing.T) {
	certs := consoletest.NewPKI(t, t.TempDir())
	dir, err := os.MkdirTemp("", "ferrite-plugin-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s, err := testserver.StartInDirWith(dir, func(o *apiserver.Options) {
		o.Poollet = apiserver.PoolletOptions{ClientCert: certs.ClientCert, ClientKey: certs.ClientKey, CA: certs.CA}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	const ns = "plugin"
	pool := consoletest.StartPool(t, s.Config, "plugin-pool", certs)
	m := pool.RunMachine(t, s.Client, ns, "vm")
	if err := pool.Runtime.WriteConsole(string(m.UID), []byte("welcome to vm\r\n")); err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	flags := []string{"-n", ns, "--kubeconfig", kubeconfig, "--context", "ferrite"}

	code, out, errOut := plugin(strings.NewReader(""), append([]string{"console", "vm", "--logs"}, flags...)...)
	if code != 0 || !strings.Contains(out, "booting") || !strings.HasSuffix(out, "welcome to vm\r\n") {
		t.Fatalf("console --logs: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, errOut = plugin(strings.NewReader(""), append([]string{"console", "vm", "--logs", "--tail-bytes", "7"}, flags...)...)
	if code != 0 || out != "to vm\r\n" {
		t.Fatalf("console --logs --tail-bytes 7: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// Attached with piped input: the scrollback, the echo of the input, Ctrl-] leaves.
	stdin, input := io.Pipe()
	defer input.Close()
	out2, errOut2 := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), genericiooptions.IOStreams{In: stdin, Out: out2, ErrOut: errOut2}, append([]string{"console", "vm"}, flags...))
	}()
	waitOutput(t, out2, "welcome to vm", done)
	input.Write([]byte("typed by the user"))
	waitOutput(t, out2, "typed by the user", done)
	input.Write([]byte{escapeByte})
	select {
	case code := <-done:
		if code != 0 || !strings.Contains(errOut2.String(), "Left the console of machine plugin/vm") {
			t.Fatalf("leaving with Ctrl-]: exit %d, stderr %q", code, errOut2.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Ctrl-] did not end the session")
	}

	// Errors are one line, with the reason.
	if _, err := s.Client.ComputeV1alpha1().Machines(ns).Create(context.Background(), &computev1alpha1.Machine{ObjectMeta: metav1.ObjectMeta{Name: "pending"},
		Spec: computev1alpha1.MachineSpec{MachineClassRef: corev1.LocalObjectReference{Name: consoletest.ClassName}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	nobody := nobodyKubeconfig(t, s)
	for _, c := range []struct {
		args []string
		want string
	}{
		{append([]string{"console", "missing"}, flags...), `error: machine "missing" not found in namespace "plugin"`},
		{append([]string{"console", "pending"}, flags...), "error: machine plugin/pending is not scheduled to a machine pool yet: it has no console"},
		{[]string{"console", "vm", "-n", ns, "--kubeconfig", nobody, "--logs"}, `error: machines.compute.ferrite.dev "vm" is forbidden: User "nobody" cannot get resource "machines"`},
		{append([]string{"console", "vm", "--context", "elsewhere"}, flags[:4]...), `error: context "elsewhere" does not exist`},
	} {
		code, _, errOut := plugin(strings.NewReader(""), c.args...)
		if code != 1 || !strings.HasPrefix(errOut, c.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q, want one line starting %q", c.args, code, errOut, c.want)
		}
	}
}

func waitOutput(t *testing.T, out *syncBuffer, text string, done chan int) {
	t.Helper()
	if err := consoletest.WaitFor(func() bool { return strings.Contains(out.String(), text) || len(done) > 0 }); err != nil || len(done) > 0 {
		t.Fatalf("waiting for %q in the output %q: %v", text, out.String(), err)
	}
}

// nobodyKubeconfig is a kubeconfig of the server for the user nobody, whom the standalone
// server authorizes for nothing.
func nobodyKubeconfig(t *testing.T, s *testserver.Server) string {
	t.Helper()
	ca, pair := s.UserCert(t, "nobody")
	path := filepath.Join(t.TempDir(), "nobody.kubeconfig")
	if err := standalone.WriteKubeconfig(path, s.Config.Host, ca.CertFile, pair.CertFile, pair.KeyFile, "nobody"); err != nil {
		t.Fatal(err)
	}
	return path
}
