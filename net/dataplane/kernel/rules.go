package kernel

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

var families = []int{unix.AF_INET, unix.AF_INET6}

// moveLocalRule puts the kernel's `lookup local` rule after Ferrite's iif rules (as VRFs do),
// so traffic from a machine or the overlay is routed in its VNI's table before the host's own
// addresses are considered. It adds the new rule before deleting the old one, so the host
// never loses its local table, and does nothing when the rule has already moved.
func (d *Dataplane) moveLocalRule() error {
	var errs []error
	for _, fam := range families {
		rules, err := d.nl.RuleList(fam)
		if err != nil {
			errs = append(errs, fmt.Errorf("local rule: list rules: %w", err))
			continue
		}
		moved := slices.ContainsFunc(rules, func(r netlink.Rule) bool {
			return isPlainLocal(r) && r.Priority == d.cfg.LocalRulePriority
		})
		if !moved {
			r := netlink.NewRule()
			r.Family, r.Table, r.Priority = fam, unix.RT_TABLE_LOCAL, d.cfg.LocalRulePriority
			if err := d.nl.RuleAdd(r); err != nil && !errors.Is(err, unix.EEXIST) {
				errs = append(errs, fmt.Errorf("local rule: add at priority %d: %w", r.Priority, err))
				continue
			}
			d.log.Info("local rule moved", "family", fam, "priority", d.cfg.LocalRulePriority)
		}
		for _, r := range rules {
			if isPlainLocal(r) && r.Priority <= d.cfg.RulePriority {
				if err := d.nl.RuleDel(&r); err != nil && !errors.Is(err, unix.ENOENT) {
					errs = append(errs, fmt.Errorf("local rule: delete at priority %d: %w", r.Priority, err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// isPlainLocal reports whether r is `from all lookup local` without any selector.
func isPlainLocal(r netlink.Rule) bool {
	return r.Table == unix.RT_TABLE_LOCAL && r.Src == nil && r.Dst == nil && r.IifName == "" &&
		r.OifName == "" && r.Mark == 0 && r.Goto <= 0 && !r.Invert
}

// ruleKey identifies one of Ferrite's rules by everything that tells them apart. A rule
// without a table is the terminal `unreachable` rule: the only table-less rule Ferrite makes
// (the netlink library does not report a rule's action, so the table stands for it).
type ruleKey struct {
	family     int
	priority   int
	iif        string
	mark, mask uint32
	table      int
}

func (k ruleKey) terminal() bool { return k.table == 0 }

func (k ruleKey) String() string {
	s := fmt.Sprintf("priority %d", k.priority)
	if k.iif != "" {
		s += " iif " + k.iif
	}
	if k.mask != 0 {
		s += fmt.Sprintf(" fwmark %#x/%#x", k.mark, k.mask)
	}
	if k.terminal() {
		return s + " unreachable"
	}
	return s + fmt.Sprintf(" lookup %d", k.table)
}

// wantRules lists Ferrite's rules for a plan:
//
//	R-1  fwmark TenantMark(v) lookup T(v)             tenant VNI with local public services
//	R-1  fwmark NATHopMark(k)/natHopMask lookup NT(k) NAT next hop k
//	R    iif <dev> lookup T(vni)                      every interface and fvx device
//	R+1  iif <tap> lookup T(P)                        tenant interface with public services
//	R+2  iif <dev> unreachable                        every interface and fvx device
//
// Tables end in throw, so whatever a device's tables do not route meets its unreachable rule
// and never `lookup local`.
func (d *Dataplane) wantRules(p *plan) map[ruleKey]bool {
	r := d.cfg.RulePriority
	want := map[ruleKey]bool{}
	device := func(name string, vni uint32) {
		for _, fam := range families {
			want[ruleKey{family: fam, priority: r, iif: name, table: d.Table(vni)}] = true
			want[ruleKey{family: fam, priority: r + 2, iif: name}] = true
		}
	}
	for _, i := range p.interfaces {
		device(i.Name, i.VNI)
	}
	for vni := range p.vnis {
		device(DeviceName(vni), vni)
	}
	pp := &p.public
	if !pp.active() {
		return want
	}
	v4 := unix.AF_INET
	for _, tap := range pp.taps {
		want[ruleKey{family: v4, priority: r + 1, iif: tap.name, table: d.Table(pp.vni)}] = true
		want[ruleKey{family: v4, priority: r - 1, mark: TenantMark(tap.vni), mask: 0xffffffff, table: d.Table(tap.vni)}] = true
	}
	for k := range pp.hops {
		want[ruleKey{family: v4, priority: r - 1, mark: NATHopMark(k), mask: natHopMask, table: d.NATHopTable(k)}] = true
	}
	return want
}

// syncRules makes Ferrite's rules exactly want: missing rules are added first (terminal ones
// before the lookups they stand behind), then every other rule Ferrite made (by protocol or by
// table) is deleted (lookups before terminal ones). So a reused interface name switches to its
// new table without a moment with no rule, and no device ever falls through to `lookup local`.
func (d *Dataplane) syncRules(want map[ruleKey]bool) error {
	var errs []error
	var stale []netlink.Rule
	have := map[ruleKey]bool{}
	for _, fam := range families {
		rules, err := d.nl.RuleList(fam)
		if err != nil {
			errs = append(errs, fmt.Errorf("rules: list: %w", err))
			return errors.Join(errs...) // without the list, deleting could remove wanted rules
		}
		for _, r := range rules {
			if r.Protocol != Protocol && !d.ownTable(r.Table) {
				continue
			}
			k := keyOf(fam, r)
			plain := r.Src == nil && r.Dst == nil && r.OifName == "" && r.Goto <= 0 && !r.Invert
			if want[k] && !have[k] && r.Protocol == Protocol && plain {
				have[k] = true
				continue
			}
			stale = append(stale, r)
		}
	}
	adds := slices.SortedFunc(maps.Keys(want), func(a, b ruleKey) int {
		// Terminal rules first; then in a stable order.
		if a.terminal() != b.terminal() {
			if a.terminal() {
				return -1
			}
			return 1
		}
		return strings.Compare(a.String(), b.String())
	})
	for _, k := range adds {
		if have[k] {
			continue
		}
		r := netlink.NewRule()
		r.Family, r.Priority, r.IifName, r.Protocol = k.family, k.priority, k.iif, Protocol
		if k.mask != 0 {
			mask := k.mask
			r.Mark, r.Mask = k.mark, &mask
		}
		if k.terminal() {
			r.Type = unix.FR_ACT_UNREACHABLE
		} else {
			r.Table = k.table
		}
		if err := d.nl.RuleAdd(r); err != nil {
			errs = append(errs, fmt.Errorf("rule %s: %w", k, err))
		}
	}
	slices.SortStableFunc(stale, func(a, b netlink.Rule) int {
		return boolInt(a.Table == 0) - boolInt(b.Table == 0) // lookups before terminal rules
	})
	for _, r := range stale {
		k := keyOf(r.Family, r)
		if err := d.nl.RuleDel(&r); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("delete stale rule %s: %w", k, err))
			continue
		}
		d.log.Info("stale rule deleted", "rule", k.String())
	}
	return errors.Join(errs...)
}

// keyOf returns the key of a kernel rule.
func keyOf(fam int, r netlink.Rule) ruleKey {
	k := ruleKey{family: fam, priority: r.Priority, iif: r.IifName, mark: r.Mark, table: r.Table}
	if r.Mask != nil {
		k.mask = *r.Mask
	}
	if r.Table < 0 {
		k.table = 0
	}
	return k
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
