package kernel

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// node is a named network namespace with a goroutine locked on a thread inside it: do runs
// code there (sysctls, nftables and new sockets act on the calling thread's namespace).
type node struct {
	t    *testing.T
	name string
	h    *netlink.Handle
	work chan func()
}

var nodeSeq atomic.Int32

// needRoot skips when the test cannot create namespaces, the kernel lacks what the dataplane
// needs, or ip and ping are missing.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("kernel dataplane tests need root (network namespaces, netlink, nftables)")
	}
	rep, err := Probe()
	if err != nil {
		t.Skipf("cannot probe the kernel: %v", err)
	}
	if err := rep.Require(Required...); err != nil {
		t.Skipf("kernel lacks what the dataplane needs: %v", err)
	}
	// Packets are sent with the system's tools (hack/test-deps.sh installs them).
	for _, tool := range []string{"ip", "ping"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("kernel dataplane tests need %s: %v", tool, err)
		}
	}
}

// newNode creates a fresh named namespace (so `ip netns exec` reaches it) with lo up; it is
// deleted when the test ends.
func newNode(t *testing.T, role string) *node {
	t.Helper()
	n := &node{t: t, name: fmt.Sprintf("fkt%d-%d-%s", os.Getpid(), nodeSeq.Add(1), role), work: make(chan func())}
	ready := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		ns, err := netns.NewNamed(n.name)
		if err == nil {
			n.h, err = netlink.NewHandleAt(ns)
			ns.Close()
		}
		ready <- err
		if err != nil {
			return
		}
		for f := range n.work {
			f()
		}
	}()
	if err := <-ready; err != nil {
		t.Fatalf("namespace %s: %v", n.name, err)
	}
	t.Cleanup(func() {
		close(n.work)
		n.h.Close()
		_ = netns.DeleteNamed(n.name)
	})
	lo, err := n.h.LinkByName("lo")
	if err == nil {
		err = n.h.LinkSetUp(lo)
	}
	if err != nil {
		t.Fatalf("%s: lo up: %v", n.name, err)
	}
	return n
}

// do runs f on the node's thread and waits for it.
func (n *node) do(f func()) {
	done := make(chan struct{})
	n.work <- func() { defer close(done); f() }
	<-done
}

// dataplane starts a kernel dataplane in the node (as a process start would).
func (n *node) dataplane(underlay string) *Dataplane {
	n.t.Helper()
	var d *Dataplane
	var err error
	n.do(func() {
		d, err = New(Config{Underlay: netip.MustParseAddr(underlay), Handle: n.h,
			Logger: slog.New(slog.DiscardHandler)})
	})
	if err != nil {
		n.t.Fatalf("%s: %v", n.name, err)
	}
	return d
}

// hypervisors makes the two-hypervisor topology the flow tests share: hv1 (192.0.2.1 on u1)
// and hv2 (192.0.2.2 on u2) joined by a veth underlay, each with a kernel dataplane.
func hypervisors(t *testing.T) (hv1, hv2 *node, d1, d2 *Dataplane) {
	t.Helper()
	hv1, hv2 = newNode(t, "hv1"), newNode(t, "hv2")
	link(t, hv1, "u1", hv2, "u2")
	addAddr(t, hv1, "u1", "192.0.2.1/24")
	addAddr(t, hv2, "u2", "192.0.2.2/24")
	return hv1, hv2, hv1.dataplane("192.0.2.1"), hv2.dataplane("192.0.2.2")
}

// run runs a command inside the node and returns its combined output.
func (n *node) run(args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", n.name}, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// ping reports whether one echo to addr is answered within a second.
func (n *node) ping(addr string) bool {
	_, err := n.run("ping", "-c1", "-W1", "-q", addr)
	return err == nil
}

// link joins n and peer with a veth pair (name in n, peerName in peer), both ends up.
func link(t *testing.T, n *node, name string, peer *node, peerName string) {
	t.Helper()
	tmp := fmt.Sprintf("fktmp%d", nodeSeq.Add(1))
	if err := n.h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: tmp}); err != nil {
		t.Fatalf("veth %s: %v", name, err)
	}
	l, err := n.h.LinkByName(tmp)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := netns.GetFromName(peer.name)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	if err := n.h.LinkSetNsFd(l, int(ns)); err != nil {
		t.Fatalf("move %s to %s: %v", tmp, peer.name, err)
	}
	if l, err = peer.h.LinkByName(tmp); err == nil {
		err = peer.h.LinkSetName(l, peerName)
	}
	if err != nil {
		t.Fatalf("rename %s: %v", tmp, err)
	}
	for _, x := range []struct {
		n    *node
		name string
	}{{n, name}, {peer, peerName}} {
		l, err := x.n.h.LinkByName(x.name)
		if err == nil {
			err = x.n.h.LinkSetUp(l)
		}
		if err != nil {
			t.Fatalf("%s up: %v", x.name, err)
		}
	}
}

// addAddr puts a prefix on a device of n.
func addAddr(t *testing.T, n *node, dev, prefix string) {
	t.Helper()
	l, err := n.h.LinkByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	a, err := netlink.ParseAddr(prefix)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.h.AddrAdd(l, a); err != nil {
		t.Fatalf("%s: address %s on %s: %v", n.name, prefix, dev, err)
	}
}

// newGuest makes a machine namespace behind a tap-like veth (hostName on the hypervisor side)
// configured as DHCP would: addr/32, 169.254.1.1 on link, default route through it.
func newGuest(t *testing.T, hv *node, hostName, addr string) *node {
	t.Helper()
	g := newNode(t, "g"+hostName)
	link(t, hv, hostName, g, "eth0")
	addAddr(t, g, "eth0", addr+"/32")
	for _, c := range [][]string{
		{"ip", "route", "add", "169.254.1.1/32", "dev", "eth0", "scope", "link"},
		{"ip", "route", "add", "default", "via", "169.254.1.1", "dev", "eth0"},
	} {
		if out, err := g.run(c...); err != nil {
			t.Fatalf("%s: %v: %s", g.name, c, out)
		}
	}
	return g
}
