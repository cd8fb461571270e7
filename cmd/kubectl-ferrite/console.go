package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/ferrite-dev/ferrite/apis/compute"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
)

// escapeByte is Ctrl-], which leaves a session (as in telnet and virsh console).
const escapeByte = 0x1d

// consoleOptions are `kubectl ferrite console`'s flags and streams.
type consoleOptions struct {
	flags   *genericclioptions.ConfigFlags
	streams genericiooptions.IOStreams
	// logs prints the scrollback instead of attaching.
	logs bool
	// tailBytes limits the scrollback; negative: the server's default.
	tailBytes int64
}

func newConsoleCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &consoleOptions{flags: flags, streams: streams}
	cmd := &cobra.Command{
		Use:   "console NAME",
		Short: "Attach to a Machine's serial console (Ctrl-] leaves), or print its scrollback with --logs",
		Long: `Attach to the serial console of the Machine NAME: what you type goes to the guest, what it
prints comes back, starting with its recent output. Ctrl-] leaves. With a terminal, the terminal
is raw while attached; with piped input, the input is sent and the output printed until Ctrl-]
(0x1d) in the input or Ctrl-C.

With --logs, print what the console printed last (its scrollback) and exit.

An interactive session needs create on machines/console (the edit role has it); --logs needs get.`,
		Example: `  kubectl ferrite console vm-1 -n team-a
  kubectl ferrite console vm-1 --logs --tail-bytes 4096`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context(), args[0]) },
	}
	cmd.Flags().BoolVar(&o.logs, "logs", false, "print the console's scrollback and exit")
	cmd.Flags().Int64Var(&o.tailBytes, "tail-bytes", -1, "only the last N bytes of the scrollback (default: all it retains with --logs, 8 KiB when attaching)")
	return cmd
}

func (o *consoleOptions) run(ctx context.Context, name string) error {
	config, err := o.flags.ToRESTConfig()
	if err != nil {
		return err
	}
	namespace, _, err := o.flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return err
	}
	client, err := versioned.NewForConfig(config)
	if err != nil {
		return err
	}
	machine, err := client.ComputeV1alpha1().Machines(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("machine %q not found in namespace %q", name, namespace)
	}
	if err != nil {
		return err
	}
	if machine.Spec.MachinePoolRef == nil {
		return fmt.Errorf("machine %s/%s is not scheduled to a machine pool yet: it has no console", namespace, name)
	}
	request := client.ComputeV1alpha1().RESTClient().Get().Namespace(namespace).Resource("machines").Name(name).SubResource("console")
	if o.tailBytes >= 0 {
		request.Param(compute.MachineConsoleTailBytesParam, strconv.FormatInt(o.tailBytes, 10))
	}
	if o.logs {
		data, err := request.Param(compute.MachineConsoleLogsParam, "true").DoRaw(ctx)
		if err != nil {
			return err
		}
		_, err = o.streams.Out.Write(data)
		return err
	}
	url := request.Param("stdin", "true").Param("stdout", "true").Param("tty", "true").URL()
	executor, err := remotecommand.NewWebSocketExecutor(config, http.MethodGet, url.String())
	if err != nil {
		return err
	}
	ctx, leave := context.WithCancel(ctx)
	defer leave()
	input := &escapeReader{reader: o.streams.In, leave: leave}
	if file, ok := o.streams.In.(*os.File); ok && term.IsTerminal(int(file.Fd())) {
		state, err := term.MakeRaw(int(file.Fd()))
		if err != nil {
			return fmt.Errorf("making the terminal raw: %w", err)
		}
		defer term.Restore(int(file.Fd()), state)
	}
	fmt.Fprintf(o.streams.ErrOut, "Connected to the console of machine %s/%s (Ctrl-] leaves).\r\n", namespace, name)
	err = executor.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: input, Stdout: o.streams.Out, Tty: true})
	if ctx.Err() != nil {
		// Ctrl-] or an interrupt: leaving is not an error.
		fmt.Fprintf(o.streams.ErrOut, "\r\nLeft the console of machine %s/%s.\r\n", namespace, name)
		return nil
	}
	return err
}

// escapeReader passes input on until the escape byte, which leaves the session.
type escapeReader struct {
	reader io.Reader
	leave  context.CancelFunc
	left   atomic.Bool
}

func (e *escapeReader) Read(p []byte) (int, error) {
	if e.left.Load() {
		return 0, io.EOF
	}
	n, err := e.reader.Read(p)
	if i := bytes.IndexByte(p[:n], escapeByte); i >= 0 {
		e.left.Store(true)
		e.leave()
		return i, io.EOF
	}
	return n, err
}

// message is err as one line for the user: the apiserver's or poollet's message when there is
// one.
func message(err error) string {
	var upgrade *httpstream.UpgradeFailureError
	if errors.As(err, &upgrade) {
		err = upgrade.Cause
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Message != "" {
		return status.Status().Message
	}
	return err.Error()
}
