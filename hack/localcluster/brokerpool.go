package localcluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// BrokerPoolOptions configure a pool of this cluster that stands for another Ferrite cluster.
type BrokerPoolOptions struct {
	// Name is the MachinePool's (and VolumePool's) name in this cluster.
	Name string
	// Lower is the cluster the brokers make their objects in.
	Lower *Cluster
	// Namespace is the lower namespace of the brokers' objects; it is created when missing and
	// the brokers' identities are bound to their roles in it.
	Namespace string
	// Labels are the pools' labels in this cluster (k=v,...).
	Labels string
	// MachinePoolSelector and VolumePoolSelector choose the lower pools (k=v,...; empty: all).
	MachinePoolSelector, VolumePoolSelector string
	// NoVolumes leaves out the volumebroker and the volumepoollet.
	NoVolumes bool
	// SweepInterval and SweepGrace are the machinebroker's; 0 keeps its defaults.
	SweepInterval, SweepGrace time.Duration
	// RBACBindingsFile binds the daemons' groups to their ClusterRoles (in both clusters).
	RBACBindingsFile string
}

// BrokerPool is a MachinePool (and VolumePool) of this cluster whose runtimes are a
// machinebroker (and volumebroker) over a lower Ferrite cluster, each driven by an unchanged
// poollet.
type BrokerPool struct {
	// Name is the pools' name.
	Name string
	// MachineSocket and VolumeSocket are the brokers' runtime sockets.
	MachineSocket, VolumeSocket string
	// Namespace is the lower namespace.
	Namespace string

	machineBroker, volumeBroker         *process
	machinePoollet, volumePoollet       *process
	machineBrokerArgs, volumeBrokerArgs []string
	logDir, binDir                      string
}

// StartBrokerPool starts, for the pool opts.Name, a machinebroker over opts.Lower and a
// machinepoollet on its socket (and the same for volumes unless opts.NoVolumes). Each broker
// acts below with its own client certificate (group ferrite:machinebrokers or
// ferrite:volumebrokers), bound to its roles in opts.Namespace only.
func (c *Cluster) StartBrokerPool(ctx context.Context, opts BrokerPoolOptions) (*BrokerPool, error) {
	dir := filepath.Join(c.opts.DataDir, "broker-"+opts.Name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	b := &BrokerPool{Name: opts.Name, Namespace: opts.Namespace, logDir: c.logDir(), binDir: c.opts.BinDir,
		MachineSocket: filepath.Join(dir, "machine-runtime.sock"), VolumeSocket: filepath.Join(dir, "volume-runtime.sock")}
	c.brokerPools = append(c.brokerPools, b)
	if bindings, err := os.ReadFile(opts.RBACBindingsFile); err == nil {
		for _, cluster := range []*Cluster{c, opts.Lower} {
			if err := applyYAML(ctx, cluster.Config, bindings); err != nil {
				return nil, fmt.Errorf("applying %s: %w", opts.RBACBindingsFile, err)
			}
		}
	}
	kinds := []string{"machinebroker"}
	if !opts.NoVolumes {
		kinds = append(kinds, "volumebroker")
	}
	if err := bindBrokers(ctx, opts.Lower, opts.Namespace, kinds); err != nil {
		return nil, err
	}

	c.step("starting machinebroker %s over %s, namespace %s", opts.Name, opts.Lower.opts.DataDir, opts.Namespace)
	lowerKubeconfig, err := opts.Lower.daemonKubeconfig(dir, "machinebroker", opts.Name)
	if err != nil {
		return nil, err
	}
	b.machineBrokerArgs = []string{"--kubeconfig=" + lowerKubeconfig, "--namespace=" + opts.Namespace,
		"--socket=" + b.MachineSocket, "--machine-pool-selector=" + opts.MachinePoolSelector}
	if opts.SweepInterval > 0 {
		b.machineBrokerArgs = append(b.machineBrokerArgs, "--sweep-interval="+opts.SweepInterval.String())
	}
	if opts.SweepGrace > 0 {
		b.machineBrokerArgs = append(b.machineBrokerArgs, "--sweep-grace="+opts.SweepGrace.String())
	}
	if err := b.StartMachineBroker(ctx); err != nil {
		return nil, err
	}
	kubeconfig, err := c.daemonKubeconfig(dir, "machinepoollet", opts.Name)
	if err != nil {
		return nil, err
	}
	if b.machinePoollet, err = startProcess("machinepoollet-"+opts.Name, c.logDir(), c.bin("machinepoollet"),
		append([]string{"--kubeconfig=" + kubeconfig, "--pool-name=" + opts.Name,
			"--runtime-endpoint=unix://" + b.MachineSocket, "--provider-id=broker://" + opts.Lower.FerriteURL + "/" + opts.Namespace,
			"--pool-labels=" + opts.Labels}, c.poolletConsoleArgs()...)...); err != nil {
		return nil, err
	}
	if opts.NoVolumes {
		return b, nil
	}

	c.step("starting volumebroker %s over %s, namespace %s", opts.Name, opts.Lower.opts.DataDir, opts.Namespace)
	if lowerKubeconfig, err = opts.Lower.daemonKubeconfig(dir, "volumebroker", opts.Name); err != nil {
		return nil, err
	}
	b.volumeBrokerArgs = []string{"--kubeconfig=" + lowerKubeconfig, "--namespace=" + opts.Namespace,
		"--socket=" + b.VolumeSocket, "--volume-pool-selector=" + opts.VolumePoolSelector, "--key-namespace=" + ServiceNamespace}
	if err := b.StartVolumeBroker(ctx); err != nil {
		return nil, err
	}
	if kubeconfig, err = c.daemonKubeconfig(dir, "volumepoollet", opts.Name); err != nil {
		return nil, err
	}
	b.volumePoollet, err = startProcess("volumepoollet-"+opts.Name, c.logDir(), c.bin("volumepoollet"),
		"--kubeconfig="+kubeconfig, "--pool-name="+opts.Name, "--runtime-endpoint=unix://"+b.VolumeSocket,
		"--provider-id=broker://"+opts.Lower.FerriteURL+"/"+opts.Namespace, "--pool-labels="+opts.Labels,
		"--key-namespace="+ServiceNamespace)
	return b, err
}

// bindBrokers makes the lower namespace and binds each broker kind's group to its namespaced
// role there, and the volumebroker's to ferrite-volumebroker-keys in the key namespace.
func bindBrokers(ctx context.Context, lower *Cluster, namespace string, kinds []string) error {
	kube, err := kubernetes.NewForConfig(lower.Config)
	if err != nil {
		return err
	}
	for _, ns := range []string{namespace, ServiceNamespace} {
		_, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("lower namespace %s: %w", ns, err)
		}
	}
	for _, kind := range kinds {
		bindings := map[string]string{namespace: "ferrite-" + kind}
		if kind == "volumebroker" {
			bindings[ServiceNamespace] = "ferrite-volumebroker-keys"
		}
		for ns, role := range bindings {
			binding := &rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: role, Namespace: ns},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
				Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: "ferrite:" + kind + "s"}},
			}
			_, err := kube.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{})
			if err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("lower RoleBinding %s/%s: %w", ns, role, err)
			}
		}
	}
	return nil
}

// StartMachineBroker starts the machinebroker (again, after KillMachineBroker; nothing when it
// runs) and waits for its socket.
func (b *BrokerPool) StartMachineBroker(ctx context.Context) error {
	return b.startBroker(ctx, &b.machineBroker, "machinebroker", b.MachineSocket, b.machineBrokerArgs)
}

// StartVolumeBroker starts the volumebroker (again, after KillVolumeBroker; nothing when it
// runs) and waits for its socket.
func (b *BrokerPool) StartVolumeBroker(ctx context.Context) error {
	return b.startBroker(ctx, &b.volumeBroker, "volumebroker", b.VolumeSocket, b.volumeBrokerArgs)
}

// startBroker starts bin/<binary> with args as *proc unless it runs, and waits for socket.
func (b *BrokerPool) startBroker(ctx context.Context, proc **process, binary, socket string, args []string) error {
	if *proc != nil && (*proc).running() {
		return nil
	}
	var err error
	if *proc, err = startProcess(binary+"-"+b.Name, b.logDir, filepath.Join(b.binDir, binary), args...); err != nil {
		return err
	}
	return waitSocket(ctx, *proc, socket, 2*time.Minute)
}

// KillVolumeBroker ends the volumebroker at once (SIGKILL), as a crash would.
func (b *BrokerPool) KillVolumeBroker() { b.volumeBroker.kill() }

// KillMachineBroker ends the machinebroker at once (SIGKILL), as a crash would.
func (b *BrokerPool) KillMachineBroker() { b.machineBroker.kill() }

// Stop stops the pool's poollets and brokers; the lower objects stay.
func (b *BrokerPool) Stop() {
	for _, proc := range []*process{b.machinePoollet, b.volumePoollet, b.machineBroker, b.volumeBroker} {
		if proc != nil {
			proc.stop(15 * time.Second)
		}
	}
}
