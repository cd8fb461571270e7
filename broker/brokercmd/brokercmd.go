// Package brokercmd is what the machinebroker and volumebroker commands share: the flags both
// take (--kubeconfig, --namespace, --socket, the pool selector, --classes, --history-size), the
// lower cluster's clients built from --kubeconfig, and serving the broker on --socket until
// SIGTERM or SIGINT. Each command adds its own flags and makes its own broker from a Lower.
package brokercmd

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/component-base/cli"
	"k8s.io/klog/v2"

	"github.com/ferrite-dev/ferrite/broker/lowerevents"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	"github.com/ferrite-dev/ferrite/poollet/poolstatus"
)

// Runtime is what a broker command serves; the shared flags' names, defaults and help follow
// from it.
type Runtime struct {
	// Kind is "machine" or "volume": the runtime the broker serves. It names the pool selector
	// flag (--machine-pool-selector) and the default socket (/run/ferrite/machine-runtime.sock).
	Kind string
	// Namespace is the --namespace default; empty makes --namespace required.
	Namespace string
}

// Lower is the lower cluster as the shared flags name it: what a command makes its broker from.
type Lower struct {
	// Namespace is --namespace: the lower namespace every object of the broker is made in.
	Namespace string
	// PoolSelector is the parsed pool selector flag: the lower objects' pool selector, and the
	// lower pools whose allocatable the broker reports.
	PoolSelector map[string]string
	// Classes is --classes: the classes the broker exposes; empty: every lower class.
	Classes []string
	// HistorySize is --history-size: how many changes Watch can replay.
	HistorySize int

	// Config is the lower cluster's REST config, from --kubeconfig (empty: in-cluster).
	Config *rest.Config
	// Client is the lower cluster's Ferrite API.
	Client versioned.Interface
	// Kube is the lower cluster's Kubernetes API (core/v1 Secrets, Events).
	Kube kubernetes.Interface
	// Events is Kube when the lower cluster serves events.k8s.io/v1 Events, else nil (and the
	// lower events are not passed up).
	Events kubernetes.Interface
}

// Broker is a broker as a command runs it.
type Broker interface {
	// Serve runs the broker's informers until ctx ends, waits until they have synced, and serves
	// the runtime on a unix socket at path until stop is called.
	Serve(ctx context.Context, path string) (stop func(), err error)
}

// flags are the shared flags' values.
type flags struct {
	kubeconfig, namespace, socket, poolSelector string
	classes                                     []string
	historySize                                 int
}

// Command returns the command use of a broker serving rt, with the shared flags. Run, it builds
// the Lower the flags name, makes the broker with newBroker and serves it on --socket until its
// context ends (Main runs it until a signal). The caller adds its own flags to cmd.Flags().
func Command(use, short string, rt Runtime, newBroker func(Lower) (Broker, error)) *cobra.Command {
	var f flags
	cmd := &cobra.Command{
		Use:          use,
		Short:        short,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd.Context(), rt, newBroker)
		},
	}
	f.add(cmd, rt)
	return cmd
}

// poolSelectorFlag is the name of rt's pool selector flag.
func (rt Runtime) poolSelectorFlag() string { return rt.Kind + "-pool-selector" }

func (f *flags) add(cmd *cobra.Command, rt Runtime) {
	kind, title := rt.Kind, strings.ToUpper(rt.Kind[:1])+rt.Kind[1:]
	fs := cmd.Flags()
	fs.StringVar(&f.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the lower Ferrite cluster (empty: in-cluster)")
	namespaceHelp := "the lower namespace every object of the broker is made in"
	if rt.Namespace == "" {
		namespaceHelp += " (required)"
	}
	fs.StringVar(&f.namespace, "namespace", rt.Namespace, namespaceHelp)
	fs.StringVar(&f.socket, "socket", "/run/ferrite/"+kind+"-runtime.sock", "the unix socket to serve the "+kind+" runtime on")
	fs.StringVar(&f.poolSelector, rt.poolSelectorFlag(), "",
		fmt.Sprintf("k=v[,k=v...]: spec.%sPoolSelector of the lower %ss, and the lower %sPools whose allocatable Status reports", kind, title, title))
	fs.StringSliceVar(&f.classes, "classes", nil, "the "+kind+" classes the broker exposes (repeatable or comma-separated); empty exposes every lower class")
	fs.IntVar(&f.historySize, "history-size", 1000, "changes retained for Watch")
	if rt.Namespace == "" {
		_ = cmd.MarkFlagRequired("namespace")
	}
}

// run serves the broker until ctx ends.
func (f *flags) run(ctx context.Context, rt Runtime, newBroker func(Lower) (Broker, error)) error {
	log := klog.FromContext(ctx)
	lower, err := f.lower(rt, log)
	if err != nil {
		return err
	}
	b, err := newBroker(lower)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(f.socket), 0o755); err != nil {
		return fmt.Errorf("--socket: %w", err)
	}
	stop, err := b.Serve(ctx, f.socket)
	if err != nil {
		return err
	}
	log.Info("serving the "+rt.Kind+" runtime", "socket", f.socket, "lower", lower.Config.Host, "namespace", lower.Namespace,
		"poolSelector", lower.PoolSelector, "classes", lower.Classes)
	<-ctx.Done()
	log.Info("stopping")
	stop()
	return nil
}

// lower parses the flags and builds the lower cluster's clients.
func (f *flags) lower(rt Runtime, log klog.Logger) (Lower, error) {
	pools, err := ParsePoolSelector(f.poolSelector)
	if err != nil {
		return Lower{}, fmt.Errorf("--%s: %w", rt.poolSelectorFlag(), err)
	}
	lower := Lower{Namespace: f.namespace, PoolSelector: pools, Classes: f.classes, HistorySize: f.historySize}
	if lower.Config, err = clientcmd.BuildConfigFromFlags("", f.kubeconfig); err != nil {
		return Lower{}, fmt.Errorf("--kubeconfig: %w", err)
	}
	if lower.Client, err = versioned.NewForConfig(lower.Config); err != nil {
		return Lower{}, err
	}
	if lower.Kube, err = kubernetes.NewForConfig(lower.Config); err != nil {
		return Lower{}, err
	}
	if lowerevents.Served(lower.Kube.Discovery()) {
		lower.Events = lower.Kube
	} else {
		log.Info("the lower cluster serves no events.k8s.io/v1 Events; lower events are not passed up")
	}
	return lower, nil
}

// ParsePoolSelector parses a pool selector flag, k=v[,k=v...], into labels that must be valid
// label keys and values (they become a lower object's pool selector); the caller names the flag
// in the error.
func ParsePoolSelector(s string) (map[string]string, error) {
	pools, err := poolstatus.ParseLabels(s)
	if err != nil {
		return nil, err
	}
	for _, k := range slices.Sorted(maps.Keys(pools)) {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return nil, fmt.Errorf("label key %q: %s", k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(pools[k]); len(errs) > 0 {
			return nil, fmt.Errorf("label %s value %q: %s", k, pools[k], strings.Join(errs, "; "))
		}
	}
	return pools, nil
}

// Main runs cmd until SIGTERM or SIGINT ends its context, and exits with its status.
func Main(cmd *cobra.Command) {
	cmd.SetContext(genericapiserver.SetupSignalContext())
	os.Exit(cli.Run(cmd))
}
