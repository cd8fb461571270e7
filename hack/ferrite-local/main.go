// Command ferrite-local runs a complete local Ferrite control plane (etcd, kube-apiserver,
// ferrite-apiserver behind APIServices, kube-controller-manager, Ferrite's controller manager)
// and, when it can (root on Debian), a local MachinePool "local" running real machines under
// libvirt and QEMU, until Ctrl-C. `make run` builds and starts it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ferrite-dev/ferrite/hack/localcluster"
)

func main() {
	dataDir := flag.String("data-dir", ".ferrite", "state kept across restarts: etcd data, certificates, kubeconfig, logs")
	binDir := flag.String("bin-dir", "bin", "directory with etcd, kube-apiserver, kube-controller-manager and the Ferrite binaries")
	rbac := flag.String("rbac", "config/rbac/roles.yaml", "Ferrite ClusterRoles to install")
	bindings := flag.String("rbac-bindings", "config/rbac/bindings.yaml", "bindings of the poollets' roles (for the local pool)")
	machinePool := flag.Bool("machine-pool", true, "also run the local MachinePool (root on Debian only)")
	volumePool := flag.Bool("volume-pool", true, "also run the local VolumePool on a single-node Ceph cluster (with the machine pool; root on Debian only)")
	hackDir := flag.String("hack-dir", "hack", "scripts that install libvirt and build the guest image (for the local pool)")
	consolePort := flag.Int("console-port", localcluster.DefaultConsolePort, "port of the web console on 127.0.0.1 (0: the default if free, else any free port; -1: no console)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	started := time.Now()
	cluster, err := localcluster.Start(ctx, localcluster.Options{DataDir: *dataDir, BinDir: *binDir, RBACFile: *rbac, Progress: os.Stdout})
	if err != nil {
		fmt.Fprintf(os.Stderr, "ferrite-local: %v\n", err)
		os.Exit(1)
	}
	poolLine := ""
	if !*machinePool {
		poolLine = "No local machine pool (--machine-pool=false).\n"
	} else if reason := localcluster.LocalPoolUnavailable(*binDir); reason != "" {
		poolLine = fmt.Sprintf("No local machine pool: %s; the control plane runs without one.\n", reason)
	} else if pool, err := cluster.StartPool(ctx, localcluster.PoolOptions{
		HackDir: *hackDir, RBACBindingsFile: *bindings, RegistryPort: localcluster.DefaultRegistryPort,
		NoVolumePool: !*volumePool,
		Network:      true,
	}); err != nil {
		poolLine = fmt.Sprintf("No local machine pool: %v\n", err)
	} else {
		poolLine = fmt.Sprintf("The MachinePool %q runs real machines (libvirt and QEMU); its guest image is %s.\n"+
			"Read a machine's console with bin/kubectl-ferrite console NAME --logs (or put bin/ on PATH: kubectl ferrite console NAME).\n"+
			"Its netagent puts machines' network interfaces in their Network's VNI and answers their DHCP (status on http://127.0.0.1:9180/interfaces).\n"+
			"Public addresses (VirtualIPs, load balancers) answer from the outside host %s: ip netns exec %s ping <address>.\n",
			localcluster.LocalPoolName, pool.GuestImage, localcluster.OutsideAddress, localcluster.OutsideNamespace)
		switch {
		case !*volumePool:
			poolLine += "No local volume pool (--volume-pool=false).\n"
		case pool.VolumePoolError != "":
			poolLine += fmt.Sprintf("No local volume pool: %s\n", pool.VolumePoolError)
		default:
			poolLine += fmt.Sprintf("The VolumePool %q keeps volumes as RBD images on a single-node Ceph cluster (ceph -c %s status).\n",
				localcluster.LocalPoolName, pool.CephConf)
		}
	}
	fmt.Print("\n" + poolLine)
	consoleLine, console := startConsole(ctx, cluster, *consolePort)
	if console != nil {
		defer console.Stop()
	}
	fmt.Print(consoleLine)
	fmt.Printf("\nFerrite is up (%.1fs). Logs are in %s/logs.\n\n  export KUBECONFIG=%s\n  kubectl get ferrite -A\n  kubectl apply -f config/samples/\n\nPress Ctrl-C to stop.\n",
		time.Since(started).Seconds(), *dataDir, cluster.Kubeconfig)
	err = cluster.Wait(ctx)
	cluster.Stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "ferrite-local: %v\n", err)
		os.Exit(1)
	}
}

// startConsole starts the web console and says how to log in, or why there is none.
func startConsole(ctx context.Context, cluster *localcluster.Cluster, port int) (string, *localcluster.Console) {
	if port < 0 {
		return "No web console (--console-port=-1).\n", nil
	}
	if reason := cluster.ConsoleUnavailable(); reason != "" {
		return fmt.Sprintf("No web console: %s.\n", reason), nil
	}
	if err := cluster.BindViewer(ctx, "default"); err != nil {
		return fmt.Sprintf("No web console: binding its read-only user: %v\n", err), nil
	}
	console, err := cluster.StartConsole(ctx, port)
	if err != nil {
		return fmt.Sprintf("No web console: %v\n", err), nil
	}
	return fmt.Sprintf("The web console is on %s: log in with the contents of %s (the admin),\n"+
		"or with the token %s (%s, who may only view the namespace default).\n",
		console.URL, cluster.Kubeconfig, cluster.Tokens[localcluster.ViewerUser], localcluster.ViewerUser), console
}
