package vni

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"
)

// Options configure the allocator: the range it hands out, how long a released VNI stays out
// of use, and the repair pass.
type Options struct {
	// Min and Max bound the VNIs handed out (both included).
	Min, Max int32
	// Quarantine is how long a VNI stays out of use after its network is gone, so that
	// traffic still in flight for the deleted network never reaches a new tenant. Zero frees
	// a VNI at once.
	Quarantine time.Duration
	// RepairInterval is how often the repair pass looks for claims whose network is gone.
	RepairInterval time.Duration
	// RepairGrace is how long a claim must stay unchanged without its network before the
	// repair pass reclaims it; longer than any create request, so an in-flight create (whose
	// claim is made before the network is stored) is never reclaimed.
	RepairGrace time.Duration
}

// NewOptions returns the defaults: the whole 24-bit range, a 10 minute quarantine, a repair
// pass every minute with a 2 minute grace.
func NewOptions() Options {
	return Options{Min: Min, Max: Max, Quarantine: 10 * time.Minute, RepairInterval: time.Minute, RepairGrace: 2 * time.Minute}
}

// AddFlags adds the options to fs.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.Int32Var(&o.Min, "vni-min", o.Min, "Smallest VNI handed out to Networks.")
	fs.Int32Var(&o.Max, "vni-max", o.Max, "Largest VNI handed out to Networks.")
	fs.DurationVar(&o.Quarantine, "vni-quarantine", o.Quarantine,
		"How long the VNI of a deleted Network stays out of use, across restarts and apiservers sharing the etcd (0 frees it at once).")
	fs.DurationVar(&o.RepairInterval, "vni-repair-interval", o.RepairInterval, "How often VNI claims whose Network is gone are looked for.")
	fs.DurationVar(&o.RepairGrace, "vni-repair-grace", o.RepairGrace,
		"How long a VNI claim must stay without its Network before the repair pass reclaims it; longer than any create request.")
}

// Validate checks the options.
func (o *Options) Validate() []error {
	var errs []error
	if o.Min < Min || o.Max > Max || o.Min > o.Max {
		errs = append(errs, fmt.Errorf("--vni-min and --vni-max must satisfy %d <= min <= max <= %d, got %d and %d", Min, Max, o.Min, o.Max))
	}
	if o.Quarantine < 0 {
		errs = append(errs, fmt.Errorf("--vni-quarantine must not be negative"))
	}
	if o.RepairInterval <= 0 || o.RepairGrace <= 0 {
		errs = append(errs, fmt.Errorf("--vni-repair-interval and --vni-repair-grace must be positive"))
	}
	return errs
}
