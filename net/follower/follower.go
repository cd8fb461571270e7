// Package follower connects a hypervisor's network agent to the API: it watches the
// NetworkInterfaces that the host's machinepoollet attached (field selector
// status.machinePoolRef.name=<pool>), reads their Networks' VNIs, and turns them into the
// agent's desired local interfaces and the DHCP leases of their guests, with their public
// services: status.virtualIP, status.nat, and the public LoadBalancers of their network that
// select them. It writes each interface's status.state back: Available once the tap is in its
// VNI and its addresses (public ones included) are announced, Pending before. Everything is
// rebuilt from the API after a restart.
package follower

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/tools/cache"

	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	informers "github.com/ferrite-dev/ferrite/generated/informers/externalversions"
	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/dhcp"
	"github.com/ferrite-dev/ferrite/poollet/tapdevice"
)

// Agent is what the follower asks of the network agent.
type Agent interface {
	// SetInterfaces replaces the interfaces that come from the API and, per VNI of theirs, the
	// VNIs of the networks peered with it.
	SetInterfaces(ctx context.Context, ifaces []dataplane.Interface, peerings map[uint32][]uint32) error
	// InterfaceState says whether an interface's device is in its VNI and its addresses are
	// announced.
	InterfaceState(name string) (present, announced bool)
}

// Leases is what the follower asks of the DHCP server.
type Leases interface {
	Set(leases []dhcp.Lease)
}

// Config configures a Follower.
type Config struct {
	// Client reaches the Ferrite API.
	Client versioned.Interface
	// PoolName is the MachinePool of this host.
	PoolName string
	// Agent receives the desired interfaces.
	Agent Agent
	// DHCP receives the leases; optional.
	DHCP Leases
	// MTU is the guests' MTU (DHCP option 26); 0 sends none.
	MTU int
	// NetworkRefresh is how often a Network (VNI, agreed peerings) is read again; 10 s when
	// zero.
	NetworkRefresh time.Duration
	// StatusInterval is how often interface states are compared with the agent's; 1 s when zero.
	StatusInterval time.Duration
	// Logger receives what the follower does; slog.Default when nil.
	Logger *slog.Logger
}

// Follower is a running follower.
type Follower struct {
	cfg      Config
	log      *slog.Logger
	informer cache.SharedIndexInformer
	networks *networkCache
	watches  *networkWatches
	wake     chan struct{}

	mu      sync.Mutex
	written map[string]networkingv1alpha1.NetworkInterfaceState // status.state last seen or written, by namespace/name
}

// New prepares a follower; Run starts it.
func New(cfg Config) (*Follower, error) {
	if cfg.Client == nil || cfg.Agent == nil {
		return nil, errors.New("follower needs a client and an agent")
	}
	if cfg.PoolName == "" {
		return nil, errors.New("follower needs the machine pool's name")
	}
	if cfg.NetworkRefresh == 0 {
		cfg.NetworkRefresh = 10 * time.Second
	}
	if cfg.StatusInterval == 0 {
		cfg.StatusInterval = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	selector := fields.OneTermEqualSelector("status.machinePoolRef.name", cfg.PoolName).String()
	factory := informers.NewSharedInformerFactoryWithOptions(cfg.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = selector }))
	f := &Follower{
		cfg: cfg, log: cfg.Logger,
		informer: factory.Networking().V1alpha1().NetworkInterfaces().Informer(),
		networks: newNetworkCache(cfg.Client, cfg.NetworkRefresh),
		wake:     make(chan struct{}, 1),
		written:  map[string]networkingv1alpha1.NetworkInterfaceState{},
	}
	f.watches = newNetworkWatches(cfg.Client, f.poke)
	_, err := f.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { f.poke() },
		UpdateFunc: func(any, any) { f.poke() },
		DeleteFunc: func(any) { f.poke() },
	})
	return f, err
}

func (f *Follower) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Run follows the API until ctx ends. Failed passes are retried on the next wake-up or tick.
func (f *Follower) Run(ctx context.Context) error {
	go f.informer.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), f.informer.HasSynced) {
		return ctx.Err()
	}
	f.log.Info("following network interfaces", "pool", f.cfg.PoolName)
	tick := time.NewTicker(f.cfg.StatusInterval)
	defer tick.Stop()
	for {
		if err := f.sync(ctx); err != nil && ctx.Err() == nil {
			f.log.Warn("sync with the API", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-f.wake:
		case <-tick.C:
		}
	}
}

// desired is one interface the host serves.
type desired struct {
	nic   *networkingv1alpha1.NetworkInterface
	iface dataplane.Interface
	lease dhcp.Lease
	// why the interface cannot be served yet, empty when it can
	pending string
	// transient says the reason is a failed read, not the API's state: the pass is retried
	// rather than the interface dropped
	transient bool
}

// sync computes the desired interfaces and leases from the informer's cache, hands them to the
// agent and the DHCP server, and writes the interfaces' states.
func (f *Follower) sync(ctx context.Context) error {
	var want []desired
	for _, obj := range f.informer.GetStore().List() {
		nic, ok := obj.(*networkingv1alpha1.NetworkInterface)
		if !ok || nic.DeletionTimestamp != nil && len(nic.Finalizers) == 0 {
			continue
		}
		want = append(want, f.resolve(ctx, nic))
	}
	// The firewall and the load balancers of each interface, from its network's watches.
	networks := map[networkKey]bool{}
	for _, d := range want {
		if d.nic.Spec.MachineRef != nil {
			networks[networkKey{d.nic.Namespace, d.nic.Spec.NetworkRef.Name}] = true
		}
	}
	f.watches.keep(ctx, networks)
	for key := range networks {
		if f.watches.synced(key) == nil {
			// Never hand the agent a partial view: an interface left out would be withdrawn
			// (right after a restart, every other host would drop its routes).
			return nil
		}
	}
	for _, d := range want {
		if d.transient {
			return fmt.Errorf("network interface %s/%s: %s", d.nic.Namespace, d.nic.Name, d.pending)
		}
	}
	for i := range want {
		if want[i].pending != "" {
			continue
		}
		nic := want[i].nic
		p, known := f.watches.policy(nic)
		if !known {
			want[i].pending = "network policies not read yet"
			continue
		}
		want[i].iface.Policy = p
		if w := f.watches.synced(networkKey{nic.Namespace, nic.Spec.NetworkRef.Name}); w != nil {
			want[i].iface.LoadBalancers = loadBalancers(w, nic, want[i].families())
		}
	}
	slices.SortFunc(want, func(a, b desired) int { return strings.Compare(a.iface.Name, b.iface.Name) })
	var ifaces []dataplane.Interface
	var leases []dhcp.Lease
	peerings := map[uint32][]uint32{}
	for _, d := range want {
		if d.pending != "" {
			continue
		}
		ifaces = append(ifaces, d.iface)
		leases = append(leases, d.lease)
		if _, done := peerings[d.iface.VNI]; !done {
			if peers := f.networks.peerVNIs(ctx, d.nic.Namespace, d.nic.Spec.NetworkRef.Name); len(peers) > 0 {
				peerings[d.iface.VNI] = peers
			}
		}
	}
	errs := []error{}
	if err := f.cfg.Agent.SetInterfaces(ctx, ifaces, peerings); err != nil {
		errs = append(errs, fmt.Errorf("agent: %w", err))
	}
	if f.cfg.DHCP != nil {
		f.cfg.DHCP.Set(leases)
	}
	for _, d := range want {
		if err := f.writeState(ctx, d); err != nil {
			errs = append(errs, err)
		}
	}
	f.forgetGone(want)
	return errors.Join(errs...)
}

// resolve turns a NetworkInterface into the interface and lease the host serves, or says why
// it cannot yet.
func (f *Follower) resolve(ctx context.Context, nic *networkingv1alpha1.NetworkInterface) desired {
	uid := string(nic.UID)
	d := desired{nic: nic, iface: dataplane.Interface{Name: tapdevice.Name(uid)}}
	if nic.Spec.MachineRef == nil {
		d.pending = "not attached to a machine"
		return d
	}
	vni, err := f.networks.vni(ctx, nic.Namespace, nic.Spec.NetworkRef.Name)
	if err != nil {
		d.pending = err.Error()
		d.transient = errors.Is(err, errRead)
		return d
	}
	d.iface.VNI = vni
	mac, _ := net.ParseMAC(tapdevice.MACAddress(uid))
	d.lease = dhcp.Lease{Interface: d.iface.Name, MAC: mac, Hostname: nic.Spec.MachineRef.Name, MTU: f.cfg.MTU}
	for _, s := range nic.Status.IPs {
		a, err := netip.ParseAddr(s)
		if err != nil {
			continue // the apiserver validates status.ips; nothing to serve here
		}
		d.iface.Addresses = append(d.iface.Addresses, netip.PrefixFrom(a, a.BitLen()))
		switch {
		case a.Is4() && !d.lease.IPv4.IsValid():
			d.lease.IPv4 = a
		case a.Is6() && !d.lease.IPv6.IsValid():
			d.lease.IPv6 = a
		}
	}
	for _, s := range nic.Status.Prefixes {
		if p, err := netip.ParsePrefix(s); err == nil {
			d.iface.Addresses = append(d.iface.Addresses, p.Masked())
		}
	}
	if len(d.iface.Addresses) == 0 {
		d.pending = "no address yet"
	}
	d.iface.VirtualIP = virtualIP(nic, d.families())
	d.iface.NAT = natShare(nic, d.families(), d.iface.VirtualIP)
	return d
}

// families are the address families of the interface's own addresses (status.ips), which
// public addresses are translated to.
func (d desired) families() families {
	return families{v4: d.lease.IPv4.IsValid(), v6: d.lease.IPv6.IsValid()}
}
