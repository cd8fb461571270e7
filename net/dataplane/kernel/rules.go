package kernel

import (
	"errors"
	"fmt"
	"slices"

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

// ruleKey identifies one of Ferrite's iif rules.
type ruleKey struct {
	family   int
	iif      string
	table    int
	priority int
}

// syncRules makes Ferrite's iif rules exactly want (iif name → table): missing rules are added
// first, then every other rule Ferrite made (by protocol or by table) is deleted, so a reused
// interface name switches to its new table without a moment with no rule.
func (d *Dataplane) syncRules(want map[string]int) error {
	wanted := map[ruleKey]bool{}
	for iif, table := range want {
		for _, fam := range families {
			wanted[ruleKey{fam, iif, table, d.cfg.RulePriority}] = true
		}
	}
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
			k := ruleKey{fam, r.IifName, r.Table, r.Priority}
			if wanted[k] && !have[k] && r.Protocol == Protocol && r.Src == nil && r.Dst == nil {
				have[k] = true
				continue
			}
			stale = append(stale, r)
		}
	}
	for k := range wanted {
		if have[k] {
			continue
		}
		r := netlink.NewRule()
		r.Family, r.IifName, r.Table, r.Priority, r.Protocol = k.family, k.iif, k.table, k.priority, Protocol
		if err := d.nl.RuleAdd(r); err != nil {
			errs = append(errs, fmt.Errorf("rule iif %s lookup %d: %w", k.iif, k.table, err))
		}
	}
	for _, r := range stale {
		if err := d.nl.RuleDel(&r); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("delete stale rule iif %s lookup %d: %w", r.IifName, r.Table, err))
			continue
		}
		d.log.Info("stale rule deleted", "iif", r.IifName, "table", r.Table, "priority", r.Priority)
	}
	return errors.Join(errs...)
}
