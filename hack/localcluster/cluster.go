// Package localcluster runs a complete Ferrite control plane on this machine: etcd, a real
// kube-apiserver and kube-controller-manager, ferrite-apiserver registered behind
// kube-apiserver through APIServices, and Ferrite's controller manager when it is built.
// `make run` and the aggregated end-to-end tests use it.
package localcluster

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/ferrite-dev/ferrite/apiserver/standalone"
)

// Options configure a local cluster.
type Options struct {
	// DataDir keeps etcd data, certificates, kubeconfigs and logs across restarts.
	DataDir string
	// BinDir holds etcd, kube-apiserver, kube-controller-manager, ferrite-apiserver and
	// (optionally) ferrite-controller-manager.
	BinDir string
	// RBACFile, if it exists, is applied after bootstrap (Ferrite's ClusterRoles); Start
	// then also waits until kube-controller-manager has aggregated them into edit.
	RBACFile string
	// Progress receives one line per step.
	Progress io.Writer
	// AuditUserGroups, when not empty, makes kube-apiserver write an audit log (AuditLogPath,
	// metadata level, one line per request at ResponseStarted and ResponseComplete) of the
	// requests of users in these groups: tests count what a daemon asks of the cluster.
	AuditUserGroups []string
	// FerriteEtcd, when set, is where ferrite-apiserver keeps its objects, reached with TLS,
	// instead of the local etcd (which kube-apiserver keeps using).
	FerriteEtcd *ExternalEtcd
	// FerriteReplicas is how many ferrite-apiservers serve the Ferrite groups (0 means 1).
	// Two or more listen on a non-loopback address of this machine behind a Service with one
	// endpoint each (replicas.go).
	FerriteReplicas int
}

// Cluster is a running local control plane.
type Cluster struct {
	opts  Options
	ports ports
	creds *credentials

	etcd, kubeAPIServer, ferrite             *process
	kubeControllerManager, controllerManager *process
	// pool is the local machine pool, once StartPool ran.
	pool *Pool
	// extraPools are further machine pools on the same libvirtd (StartExtraPool).
	extraPools []*ExtraPool
	// brokerPools are pools whose runtimes are brokers over another cluster (StartBrokerPool).
	brokerPools []*BrokerPool
	// replicas are the further ferrite-apiservers, with Options.FerriteReplicas > 1.
	replicas *replicaSet

	// Kubeconfig is the admin kubeconfig of kube-apiserver.
	Kubeconfig string
	// Config is the admin client configuration.
	Config *rest.Config
	// Tokens are the bearer tokens of the test users ViewerUser and NobodyUser.
	Tokens map[string]string
	// FerriteURL is ferrite-apiserver's own address, for checks that bypass kube-apiserver.
	FerriteURL string
	// Poollet are the certificates of the machinepoollets' console endpoints, which
	// ferrite-apiserver reaches for machines/console.
	Poollet PoolletPKI
}

// PoolletPKI names the files of the console connection between ferrite-apiserver and the local
// machinepoollets. One CA issued both certificates. A local pool runs machinepoollet with
// --console-bind-address=127.0.0.1:PORT --tls-cert-file=ServingCert
// --tls-private-key-file=ServingKey --client-ca-file=CA
// (and --console-allowed-names=PoolletClientName).
type PoolletPKI struct {
	// CA verifies both sides: ferrite-apiserver's --poollet-certificate-authority and the
	// poollets' --client-ca-file.
	CA string
	// ServingCert and ServingKey are the poollets' serving certificate, for 127.0.0.1, ::1 and
	// localhost.
	ServingCert, ServingKey string
	// ClientCert and ClientKey are ferrite-apiserver's --poollet-client-certificate and
	// --poollet-client-key (common name PoolletClientName).
	ClientCert, ClientKey string
}

// Start brings the control plane up and returns once the APIServices are Available.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	var err error
	if opts.DataDir, err = filepath.Abs(opts.DataDir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts, Kubeconfig: filepath.Join(opts.DataDir, "kubeconfig")}
	if err := c.start(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) step(format string, args ...any) {
	fmt.Fprintf(c.opts.Progress, ">> "+format+"\n", args...)
}

func (c *Cluster) logDir() string { return filepath.Join(c.opts.DataDir, "logs") }

func (c *Cluster) start(ctx context.Context) error {
	var err error
	pkiDir := filepath.Join(c.opts.DataDir, "pki")
	if c.creds, err = ensureCredentials(pkiDir); err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	c.Tokens = c.creds.tokens
	c.Poollet = PoolletPKI{CA: c.creds.poolletCA.CertFile,
		ServingCert: c.creds.poolletServing.CertFile, ServingKey: c.creds.poolletServing.KeyFile,
		ClientCert: c.creds.poolletClient.CertFile, ClientKey: c.creds.poolletClient.KeyFile}
	if c.ports, err = loadPorts(filepath.Join(c.opts.DataDir, "ports")); err != nil {
		return err
	}
	kubeURL := "https://127.0.0.1:" + strconv.Itoa(c.ports.kubeAPIServer)
	c.FerriteURL = "https://127.0.0.1:" + strconv.Itoa(c.ports.ferrite)
	if err := c.prepareReplicas(); err != nil {
		return err
	}
	if err := standalone.WriteKubeconfig(c.Kubeconfig, kubeURL, c.creds.clusterCA.CertFile, c.creds.admin.CertFile, c.creds.admin.KeyFile, "kubernetes-admin"); err != nil {
		return err
	}
	ferriteKubeconfig := filepath.Join(pkiDir, "ferrite-apiserver.kubeconfig")
	if err := standalone.WriteKubeconfig(ferriteKubeconfig, kubeURL, c.creds.clusterCA.CertFile, c.creds.ferriteClient.CertFile, c.creds.ferriteClient.KeyFile, ferriteUser); err != nil {
		return err
	}
	if c.Config, err = clientcmd.BuildConfigFromFlags("", c.Kubeconfig); err != nil {
		return err
	}

	c.step("starting etcd on 127.0.0.1:%d", c.ports.etcdClient)
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(c.ports.etcdClient)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(c.ports.etcdPeer)
	if c.etcd, err = startProcess("etcd", c.logDir(), c.bin("etcd"),
		"--name=local", "--data-dir="+filepath.Join(c.opts.DataDir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=local="+peerURL, "--log-level=warn"); err != nil {
		return err
	}

	c.step("starting kube-apiserver on %s", kubeURL)
	args := append(c.kubeAPIServerArgs(etcdURL), c.aggregatorRoutingArgs()...)
	if len(c.opts.AuditUserGroups) > 0 {
		audit, err := c.auditArgs()
		if err != nil {
			return err
		}
		args = append(args, audit...)
	}
	if c.kubeAPIServer, err = startProcess("kube-apiserver", c.logDir(), c.bin("kube-apiserver"), args...); err != nil {
		return err
	}
	if err := c.waitHealthy(ctx, c.kubeAPIServer, c.Config, "/readyz", 2*time.Minute); err != nil {
		return err
	}

	c.step("registering the Ferrite APIServices")
	service, port := c.registrationService()
	manifest, err := renderRegistration(port, c.creds.ferriteCA.CertFile, service)
	if err != nil {
		return err
	}
	if err := applyYAML(ctx, c.Config, manifest); err != nil {
		return err
	}
	roles, err := os.ReadFile(c.opts.RBACFile)
	if err == nil {
		if err := applyYAML(ctx, c.Config, roles); err != nil {
			return fmt.Errorf("applying %s: %w", c.opts.RBACFile, err)
		}
	}

	c.step("starting ferrite-apiserver on %s", c.FerriteURL)
	if err := c.startFerrite(ferriteKubeconfig, etcdURL); err != nil {
		return err
	}
	if err := c.startReplicas(ferriteKubeconfig, etcdURL); err != nil {
		return err
	}
	if err := c.startProbes(); err != nil {
		return err
	}
	c.step("waiting for the APIServices to become Available")
	if err := c.WaitAPIServices(ctx, true, 2*time.Minute); err != nil {
		return err
	}
	// Started once the Ferrite groups are served, so that the garbage collector's first
	// discovery already includes them (it rediscovers only every 30 seconds).
	c.step("starting kube-controller-manager")
	if err := c.startKubeControllerManager(kubeURL); err != nil {
		return err
	}
	if _, err := os.Stat(c.bin("ferrite-controller-manager")); err == nil {
		c.step("starting ferrite-controller-manager")
		// No metrics or health port (nothing scrapes them): their fixed defaults would keep a
		// second local cluster on this machine (make run beside an e2e suite or a benchmark)
		// from running its controller manager.
		if c.controllerManager, err = startProcess("ferrite-controller-manager", c.logDir(), c.bin("ferrite-controller-manager"),
			"--kubeconfig="+c.Kubeconfig, "--metrics-bind-address=0", "--health-probe-bind-address=0"); err != nil {
			return err
		}
	}
	if len(roles) > 0 {
		c.step("waiting for kube-controller-manager to aggregate the Ferrite roles into admin, edit and view")
		if err := c.waitRolesAggregated(ctx, time.Minute); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) bin(name string) string { return filepath.Join(c.opts.BinDir, name) }

func (c *Cluster) kubeAPIServerArgs(etcdURL string) []string {
	creds := c.creds
	return []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port=" + strconv.Itoa(c.ports.kubeAPIServer),
		// Endpoints of the kubernetes Service may not be loopback addresses.
		"--endpoint-reconciler-type=none",
		"--tls-cert-file=" + creds.kubeServing.CertFile, "--tls-private-key-file=" + creds.kubeServing.KeyFile,
		"--client-ca-file=" + creds.clusterCA.CertFile,
		"--token-auth-file=" + creds.tokenFile,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + creds.serviceAccountPub, "--service-account-signing-key-file=" + creds.serviceAccountKey,
		"--service-cluster-ip-range=10.96.0.0/24",
		// The aggregator authenticates to ferrite-apiserver as the front proxy.
		"--requestheader-client-ca-file=" + creds.frontProxyCA.CertFile,
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User", "--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file=" + creds.frontProxyClient.CertFile, "--proxy-client-key-file=" + creds.frontProxyClient.KeyFile,
	}
}

func (c *Cluster) startFerrite(kubeconfig, etcdURL string) error {
	return c.startReplica(0, kubeconfig, etcdURL)
}

// ferriteArgs are the flags of ferrite-apiserver replica i (0 unless Options.FerriteReplicas).
func (c *Cluster) ferriteArgs(i int, kubeconfig, etcdURL string) []string {
	address, port := c.ferriteListen(i)
	return append(c.ferriteEtcdArgs(etcdURL),
		"--bind-address="+address, "--secure-port="+strconv.Itoa(port),
		"--tls-cert-file="+c.creds.ferriteServing.CertFile, "--tls-private-key-file="+c.creds.ferriteServing.KeyFile,
		"--authentication-kubeconfig="+kubeconfig, "--authorization-kubeconfig="+kubeconfig, "--kubeconfig="+kubeconfig,
		"--poollet-client-certificate="+c.Poollet.ClientCert, "--poollet-client-key="+c.Poollet.ClientKey,
		"--poollet-certificate-authority="+c.Poollet.CA,
		"--data-dir="+filepath.Join(c.opts.DataDir, c.ferriteName(i)),
		// The public VNI is reserved for public addresses.
		"--vni-max="+strconv.Itoa(PublicVNI-1))
}

// waitHealthy polls path on the server of config until it answers 200 or p exits.
func (c *Cluster) waitHealthy(ctx context.Context, p *process, config *rest.Config, path string, timeout time.Duration) error {
	client, err := rest.HTTPClientFor(config)
	if err != nil {
		return err
	}
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if !p.running() {
			return false, p.exitError()
		}
		request, _ := http.NewRequestWithContext(ctx, http.MethodGet, config.Host+path, nil)
		response, err := client.Do(request)
		if err != nil {
			return false, nil
		}
		response.Body.Close()
		return response.StatusCode == http.StatusOK, nil
	})
}

var apiServiceResource = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}

// WaitAPIServices waits until every Ferrite APIService's Available condition is available (or,
// with available false, until none is).
func (c *Cluster) WaitAPIServices(ctx context.Context, available bool, timeout time.Duration) error {
	client, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	want := "False"
	if available {
		want = "True"
	}
	var last string
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if available && c.ferrite != nil && !c.ferrite.running() {
			return false, c.ferrite.exitError()
		}
		for _, group := range Groups {
			object, err := client.Resource(apiServiceResource).Get(ctx, "v1alpha1."+group, metav1.GetOptions{})
			if err != nil {
				last = err.Error()
				return false, nil
			}
			conditions, _, _ := unstructuredConditions(object.Object)
			if conditions["Available"] != want {
				last = fmt.Sprintf("APIService v1alpha1.%s Available=%s", group, conditions["Available"])
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("APIServices not Available=%s: %s (%w)", want, last, err)
	}
	return nil
}

func unstructuredConditions(object map[string]any) (map[string]string, bool, error) {
	status, _ := object["status"].(map[string]any)
	list, _ := status["conditions"].([]any)
	out := map[string]string{}
	for _, item := range list {
		condition, _ := item.(map[string]any)
		conditionType, _ := condition["type"].(string)
		conditionStatus, _ := condition["status"].(string)
		out[conditionType] = conditionStatus
	}
	return out, len(out) > 0, nil
}

// KillFerrite ends ferrite-apiserver at once (SIGKILL), as a crash would.
func (c *Cluster) KillFerrite() { c.ferrite.kill() }

// StartFerrite starts ferrite-apiserver again after KillFerrite.
func (c *Cluster) StartFerrite() error {
	return c.startFerrite(filepath.Join(c.opts.DataDir, "pki", "ferrite-apiserver.kubeconfig"), "http://127.0.0.1:"+strconv.Itoa(c.ports.etcdClient))
}

// Stop stops the processes in the reverse order of their start.
func (c *Cluster) Stop() {
	for _, b := range c.brokerPools {
		c.step("stopping the broker pool %s", b.Name)
		b.Stop()
	}
	for _, e := range c.extraPools {
		c.step("stopping the machine pool %s", e.Name)
		e.Stop()
	}
	if c.pool != nil {
		c.step("stopping the local pool (its machines keep running in libvirt)")
		c.pool.Stop()
	}
	c.stopReplicas()
	for _, p := range []*process{c.controllerManager, c.kubeControllerManager, c.ferrite, c.kubeAPIServer, c.etcd} {
		if p != nil {
			c.step("stopping %s", p.name)
			p.stop(15 * time.Second)
		}
	}
}

// Wait blocks until ctx ends or a process exits, and reports which.
func (c *Cluster) Wait(ctx context.Context) error {
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			processes := append([]*process{c.etcd, c.kubeAPIServer, c.ferrite, c.kubeControllerManager, c.controllerManager}, c.replicaProcesses()...)
			for _, p := range append(processes, c.pool.processes()...) {
				if p != nil && !p.running() {
					return p.exitError()
				}
			}
		}
	}
}
