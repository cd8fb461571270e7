package localcluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/ferrite-dev/ferrite/apiserver/standalone"
)

// ExternalEtcd is an etcd cluster of ferrite-apiserver's own, reached with TLS
// (Options.FerriteEtcd).
type ExternalEtcd struct {
	// Servers are the members' client URLs.
	Servers []string
	// CAFile verifies the members; CertFile and KeyFile are ferrite-apiserver's client
	// certificate.
	CAFile, CertFile, KeyFile string
}

// replicaSet is the state of two or more ferrite-apiservers behind one Service. They listen on
// a non-loopback address of this machine, because EndpointSlices may not hold loopback
// addresses; kube-apiserver runs with --enable-aggregator-routing and sends each request to a
// random ready endpoint. A probe loop plays the part of the kubelet's readiness probes and the
// endpoint controller: every probeInterval it reads each replica's /readyz (timeout
// probeTimeout) and marks the replica's endpoint ready after one success, not ready after
// probeFailures failures in a row, so that one slow answer of a loaded replica does not take
// it out.
type replicaSet struct {
	address string
	// ports are the replicas' secure ports; extra the processes of replicas 1 and on
	// (replica 0 is Cluster.ferrite).
	ports []int
	extra []*process

	stopProbes context.CancelFunc
	probesDone chan struct{}
}

// The readiness probe: a killed replica refuses connections at once and is out after about
// probeFailures * probeInterval.
const (
	probeInterval = 500 * time.Millisecond
	probeTimeout  = 2 * time.Second
	probeFailures = 3
)

// servicePort is the port of the ClusterIP Service in front of the replicas.
const servicePort = 443

// replicated reports whether more than one ferrite-apiserver runs.
func (c *Cluster) replicated() bool { return c.opts.FerriteReplicas > 1 }

// prepareReplicas picks the address and ports of the replicas.
func (c *Cluster) prepareReplicas() error {
	if !c.replicated() {
		return nil
	}
	address, err := hostAddress()
	if err != nil {
		return err
	}
	r := &replicaSet{address: address, ports: []int{c.ports.ferrite}}
	for len(r.ports) < c.opts.FerriteReplicas {
		port, err := standalone.FreePort()
		if err != nil {
			return err
		}
		if !containsPort(r.ports, port) && port != c.ports.etcdClient && port != c.ports.etcdPeer && port != c.ports.kubeAPIServer {
			r.ports = append(r.ports, port)
		}
	}
	r.extra = make([]*process, c.opts.FerriteReplicas-1)
	c.replicas = r
	c.FerriteURL = "https://" + net.JoinHostPort(address, strconv.Itoa(r.ports[0]))
	return nil
}

func containsPort(ports []int, port int) bool {
	for _, p := range ports {
		if p == port {
			return true
		}
	}
	return false
}

// hostAddress returns the first non-loopback, non-link-local IPv4 address of an interface
// that is up.
func hostAddress() (string, error) {
	interfaces, err := net.Interfaces()
	if err != nil {
		return "", err
	}
	for _, iface := range interfaces {
		if iface.Flags&net.FlagUp == 0 || iface.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := iface.Addrs()
		if err != nil {
			continue
		}
		for _, addr := range addrs {
			ip, _, err := net.ParseCIDR(addr.String())
			if err == nil && ip.To4() != nil && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() {
				return ip.String(), nil
			}
		}
	}
	return "", fmt.Errorf("more than one ferrite-apiserver needs a non-loopback IPv4 address on this machine: EndpointSlices may not hold loopback addresses")
}

// ferriteListen is where replica i listens.
func (c *Cluster) ferriteListen(i int) (address string, port int) {
	if !c.replicated() {
		return "127.0.0.1", c.ports.ferrite
	}
	return c.replicas.address, c.replicas.ports[i]
}

// ferriteName names replica i's process, log and data directory.
func (c *Cluster) ferriteName(i int) string {
	if i == 0 {
		return "ferrite-apiserver"
	}
	return "ferrite-apiserver-" + strconv.Itoa(i)
}

// ferriteEtcdArgs point ferrite-apiserver at its etcd: the external one with TLS, or the local
// one at etcdURL.
func (c *Cluster) ferriteEtcdArgs(etcdURL string) []string {
	e := c.opts.FerriteEtcd
	if e == nil {
		return []string{"--etcd-servers=" + etcdURL}
	}
	return []string{"--etcd-servers=" + strings.Join(e.Servers, ","),
		"--etcd-cafile=" + e.CAFile, "--etcd-certfile=" + e.CertFile, "--etcd-keyfile=" + e.KeyFile}
}

// aggregatorRoutingArgs make kube-apiserver send requests to the Service's endpoints.
func (c *Cluster) aggregatorRoutingArgs() []string {
	if !c.replicated() {
		return nil
	}
	return []string{"--enable-aggregator-routing=true"}
}

// replicaService is the ClusterIP Service without selector that the APIServices name when
// several replicas run; its EndpointSlices (one per replica, as their ports differ) come from
// the probe loop.
const replicaService = `apiVersion: v1
kind: Service
metadata: {name: %s, namespace: %s}
spec:
  type: ClusterIP
  ports: [{name: https, port: %d, protocol: TCP}]
`

// registrationService returns the Service document of the registration and the port the
// APIServices name: the replicas' ClusterIP Service, or "" and ferrite's own port.
func (c *Cluster) registrationService() (string, int) {
	if !c.replicated() {
		return "", c.ports.ferrite
	}
	return fmt.Sprintf(replicaService, ServiceName, ServiceNamespace, servicePort), servicePort
}

// startReplicas starts replicas 1 and on.
func (c *Cluster) startReplicas(kubeconfig, etcdURL string) error {
	if !c.replicated() {
		return nil
	}
	for i := 1; i < len(c.replicas.ports); i++ {
		if err := c.startReplica(i, kubeconfig, etcdURL); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) startReplica(i int, kubeconfig, etcdURL string) error {
	p, err := startProcess(c.ferriteName(i), c.logDir(), c.bin("ferrite-apiserver"), c.ferriteArgs(i, kubeconfig, etcdURL)...)
	if err != nil {
		return err
	}
	if i == 0 {
		c.ferrite = p
	} else {
		c.replicas.extra[i-1] = p
	}
	return nil
}

// replica returns the process of replica i.
func (c *Cluster) replica(i int) *process {
	if i == 0 {
		return c.ferrite
	}
	return c.replicas.extra[i-1]
}

// FerriteReplicas is the number of ferrite-apiservers.
func (c *Cluster) FerriteReplicas() int {
	if !c.replicated() {
		return 1
	}
	return len(c.replicas.ports)
}

// KillFerriteReplica ends ferrite-apiserver replica i at once (SIGKILL), as a crash would.
func (c *Cluster) KillFerriteReplica(i int) { c.replica(i).kill() }

// StartFerriteReplica starts replica i again after KillFerriteReplica, on the same port and
// data directory.
func (c *Cluster) StartFerriteReplica(i int) error {
	return c.startReplica(i, filepath.Join(c.opts.DataDir, "pki", "ferrite-apiserver.kubeconfig"), "http://127.0.0.1:"+strconv.Itoa(c.ports.etcdClient))
}

// FerriteReplicaPID is the process ID of replica i.
func (c *Cluster) FerriteReplicaPID(i int) int { return pidOf(c.replica(i)) }

// FerriteReplicaConfig is the admin client configuration pointed straight at replica i,
// past kube-apiserver (ferrite-apiserver trusts kube-apiserver's client CA), for example to
// read its /metrics.
func (c *Cluster) FerriteReplicaConfig(i int) *rest.Config {
	address, port := c.ferriteListen(i)
	config := rest.CopyConfig(c.Config)
	config.Host = "https://" + net.JoinHostPort(address, strconv.Itoa(port))
	config.TLSClientConfig.CAData, config.TLSClientConfig.CAFile = nil, c.creds.ferriteCA.CertFile
	config.TLSClientConfig.ServerName = ServiceName + "." + ServiceNamespace + ".svc"
	return config
}

// WaitFerriteReplica waits until replica i answers /readyz.
func (c *Cluster) WaitFerriteReplica(ctx context.Context, i int, timeout time.Duration) error {
	client, err := c.probeClient()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for !c.ready(ctx, client, i) {
		if !c.replica(i).running() {
			return c.replica(i).exitError()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s (log %s)", c.ferriteName(i), timeout, c.replica(i).logPath)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// probeClient verifies the replicas' serving certificate as kube-apiserver does: by the
// Service's DNS name.
func (c *Cluster) probeClient() (*http.Client, error) {
	ca, err := os.ReadFile(c.creds.ferriteCA.CertFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: ServiceName + "." + ServiceNamespace + ".svc"}, DisableKeepAlives: true}
	return &http.Client{Transport: transport, Timeout: probeTimeout}, nil
}

// ready reads replica i's /readyz once.
func (c *Cluster) ready(ctx context.Context, client *http.Client, i int) bool {
	address, port := c.ferriteListen(i)
	request, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+net.JoinHostPort(address, strconv.Itoa(port))+"/readyz", nil)
	if err != nil {
		return false
	}
	response, err := client.Do(request)
	if err != nil {
		return false
	}
	response.Body.Close()
	return response.StatusCode == http.StatusOK
}

var endpointSliceResource = schema.GroupVersionResource{Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"}

// startProbes runs the probe loop until stopReplicas. It publishes every replica's endpoint
// once at the start, then whenever its readiness changes.
func (c *Cluster) startProbes() error {
	if !c.replicated() {
		return nil
	}
	client, err := c.probeClient()
	if err != nil {
		return err
	}
	slices, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.replicas.stopProbes, c.replicas.probesDone = cancel, make(chan struct{})
	published := make([]*bool, len(c.replicas.ports))
	failures := make([]int, len(c.replicas.ports))
	go func() {
		defer close(c.replicas.probesDone)
		ticker := time.NewTicker(probeInterval)
		defer ticker.Stop()
		for {
			var wg sync.WaitGroup
			now := make([]bool, len(published))
			for i := range now {
				wg.Add(1)
				go func() { defer wg.Done(); now[i] = c.ready(ctx, client, i) }()
			}
			wg.Wait()
			for i, ready := range now {
				if ready {
					failures[i] = 0
				} else if failures[i]++; failures[i] < probeFailures && published[i] != nil {
					continue
				}
				if published[i] != nil && *published[i] == ready || ctx.Err() != nil {
					continue
				}
				if err := c.publishEndpoint(ctx, slices, i, ready); err != nil {
					c.step("publishing the endpoint of %s: %v", c.ferriteName(i), err)
					continue
				}
				published[i] = &ready
			}
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
		}
	}()
	return nil
}

// publishEndpoint applies replica i's EndpointSlice with its readiness.
func (c *Cluster) publishEndpoint(ctx context.Context, client dynamic.Interface, i int, ready bool) error {
	address, port := c.ferriteListen(i)
	slice := map[string]any{
		"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
		"metadata": map[string]any{
			"name": c.ferriteName(i), "namespace": ServiceNamespace,
			"labels": map[string]any{"kubernetes.io/service-name": ServiceName, "endpointslice.kubernetes.io/managed-by": "ferrite-local"},
		},
		"addressType": "IPv4",
		"endpoints":   []any{map[string]any{"addresses": []any{address}, "conditions": map[string]any{"ready": ready}}},
		"ports":       []any{map[string]any{"name": "https", "port": port, "protocol": "TCP"}},
	}
	data, err := json.Marshal(slice)
	if err != nil {
		return err
	}
	force := true
	_, err = client.Resource(endpointSliceResource).Namespace(ServiceNamespace).Patch(ctx, c.ferriteName(i), types.ApplyPatchType, data,
		metav1.PatchOptions{FieldManager: "ferrite-local-probes", Force: &force})
	return err
}

// stopReplicas stops the probe loop and replicas 1 and on.
func (c *Cluster) stopReplicas() {
	if c.replicas == nil {
		return
	}
	if c.replicas.stopProbes != nil {
		c.replicas.stopProbes()
		<-c.replicas.probesDone
	}
	for i := len(c.replicas.extra) - 1; i >= 0; i-- {
		if p := c.replicas.extra[i]; p != nil {
			c.step("stopping %s", p.name)
			p.stop(15 * time.Second)
		}
	}
}

// replicaProcesses are the processes of replicas 1 and on, for Wait.
func (c *Cluster) replicaProcesses() []*process {
	if c.replicas == nil {
		return nil
	}
	return c.replicas.extra
}
