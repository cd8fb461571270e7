// Command kubectl-ferrite is a kubectl plugin with Ferrite's own verbs: on PATH, kubectl runs it
// as `kubectl ferrite`. It takes kubectl's connection flags (--kubeconfig, --context, -n, ...).
//
//	kubectl ferrite console NAME          attach to a Machine's serial console (Ctrl-] leaves)
//	kubectl ferrite console NAME --logs   print the console's scrollback and exit
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/klog/v2"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	os.Exit(run(ctx, streams, os.Args[1:]))
}

// run executes the plugin with args and returns its exit code; errors are one line on ErrOut.
func run(ctx context.Context, streams genericiooptions.IOStreams, args []string) int {
	// client-go logs a closed connection when a session is left; the user sees only the
	// plugin's own messages.
	klog.SetLogger(logr.Discard())
	cmd := newRootCommand(streams)
	cmd.SetArgs(args)
	cmd.SetIn(streams.In)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(streams.ErrOut, "error: "+message(err))
		return 1
	}
	return 0
}

// newRootCommand is `kubectl ferrite` with kubectl's connection flags.
func newRootCommand(streams genericiooptions.IOStreams) *cobra.Command {
	flags := genericclioptions.NewConfigFlags(true)
	root := &cobra.Command{
		Use:           "kubectl ferrite",
		Short:         "Ferrite's verbs for kubectl",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	flags.AddFlags(root.PersistentFlags())
	root.AddCommand(newConsoleCommand(flags, streams))
	return root
}
