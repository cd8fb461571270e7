package kernel

import (
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Report says which network device types and features the running kernel offers.
type Report struct {
	// Available maps a device type or feature to nil when present, or to why it is not.
	Available map[string]error
}

// Required are what the kernel dataplane cannot work without: VXLAN devices for the
// encapsulation and policy routing to pick a VNI's table by input interface.
var Required = []string{"vxlan", "policy-routing"}

// Missing lists absent types among want (all probed ones when want is empty), sorted.
func (r Report) Missing(want ...string) []string {
	if len(want) == 0 {
		for k := range r.Available {
			want = append(want, k)
		}
	}
	var out []string
	for _, k := range want {
		if err, ok := r.Available[k]; !ok || err != nil {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// Require returns an error naming every missing type among want and the kernel's reason.
func (r Report) Require(want ...string) error {
	var errs []error
	for _, k := range r.Missing(want...) {
		errs = append(errs, fmt.Errorf("kernel lacks %s: %v", k, r.Available[k]))
	}
	return errors.Join(errs...)
}

// String renders the report on one line, e.g. "vxlan=yes vrf=no (operation not supported)".
func (r Report) String() string {
	var parts []string
	for k, err := range r.Available {
		if err == nil {
			parts = append(parts, k+"=yes")
		} else {
			parts = append(parts, fmt.Sprintf("%s=no (%v)", k, err))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// Probe creates one device of each type the overlay might use, in a throwaway network namespace
// so the host is never touched, and reports what worked. It needs CAP_NET_ADMIN and
// CAP_SYS_ADMIN (root).
func Probe() (Report, error) {
	rep := Report{Available: map[string]error{}}
	runtime.LockOSThread()
	// The thread is left locked on purpose: if restoring the namespace failed it must die with
	// the goroutine rather than serve other goroutines in the wrong namespace.
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return rep, fmt.Errorf("probe: current netns: %w", err)
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		return rep, fmt.Errorf("probe: new netns (need root): %w", err)
	}
	defer ns.Close()
	defer func() {
		if err := netns.Set(orig); err != nil {
			panic(fmt.Sprintf("probe: cannot return to the original netns: %v", err))
		}
	}()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return rep, fmt.Errorf("probe: netlink: %w", err)
	}
	defer h.Close()

	devices := map[string]netlink.Link{
		"vxlan":  &netlink.Vxlan{LinkAttrs: netlink.LinkAttrs{Name: "p-vxlan"}, VxlanId: 42, Port: 4789},
		"veth":   &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "p-veth"}, PeerName: "p-veth1"},
		"bridge": &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "p-bridge"}},
		"tap":    &netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: "p-tap"}, Mode: netlink.TUNTAP_MODE_TAP},
		"vrf":    &netlink.Vrf{LinkAttrs: netlink.LinkAttrs{Name: "p-vrf"}, Table: 4242},
		"dummy":  &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: "p-dummy"}},
		"geneve": &netlink.Geneve{LinkAttrs: netlink.LinkAttrs{Name: "p-geneve"}, ID: 42},
		"gretap": &netlink.Gretap{LinkAttrs: netlink.LinkAttrs{Name: "p-gretap"}},
		"ipip":   &netlink.Iptun{LinkAttrs: netlink.LinkAttrs{Name: "p-ipip"}},
	}
	for name, link := range devices {
		err := h.LinkAdd(link)
		if err == nil {
			_ = h.LinkDel(link)
		}
		rep.Available[name] = err
	}
	rule := netlink.NewRule()
	rule.IifName, rule.Table, rule.Priority, rule.Family = "lo", 4242, 4242, unix.AF_INET
	err = h.RuleAdd(rule)
	if err == nil {
		_ = h.RuleDel(rule)
	}
	rep.Available["policy-routing"] = err
	return rep, nil
}
