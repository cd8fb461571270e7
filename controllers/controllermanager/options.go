package controllermanager

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/ferrite-dev/ferrite/controllers/placement"
)

// Options configure the controller manager.
type Options struct {
	// MetricsAddress serves Prometheus metrics; "0" disables them.
	MetricsAddress string
	// HealthAddress serves /healthz and /readyz.
	HealthAddress string
	// LeaderElect turns leader election on or off; nil decides by whether the leader-election
	// cluster serves coordination.k8s.io Leases.
	LeaderElect *bool
	// LeaderElectionNamespace holds the Lease.
	LeaderElectionNamespace string
	// LeaderElectionID names the Lease.
	LeaderElectionID string
	// SchedulerPolicy chooses among feasible pools (spread or binpack).
	SchedulerPolicy placement.Policy
	// SchedulerWorkers bounds the concurrent API calls (binds, condition writes) of each scheduler.
	// The default keeps below an apiserver's default 200 mutating requests in flight.
	SchedulerWorkers int
	// HeartbeatGrace is how long a pool may go without a heartbeat before it turns Ready=Unknown
	// and stops receiving new objects.
	HeartbeatGrace time.Duration
	// RetryInterval re-examines unschedulable objects even when no pool changes.
	RetryInterval time.Duration
	// LedgerResync re-examines every pool ledger and prefix ledger periodically.
	LedgerResync time.Duration
	// LedgerGrowthGrace is how long a volume pool ledger entry larger than its volume (a growth
	// reserved by resize admission whose update was not stored) is kept before it is lowered.
	LedgerGrowthGrace time.Duration
	// QuotaReleaseGrace is how long a ResourceQuota's status must stay unchanged before the
	// quota controller may lower status.used (charges of creates still in flight).
	QuotaReleaseGrace time.Duration
	// LedgerMissingGrace is how long a pool ledger entry whose object this manager's cache does
	// not know is kept before it is dropped.
	LedgerMissingGrace time.Duration
	// IPAMReleaseGrace is how long an unclaimed address stays in a prefix ledger before it is
	// released (it covers an allocation whose owner is not yet written).
	IPAMReleaseGrace time.Duration
	// IPAMWorkers is the number of concurrent address allocations per kind.
	IPAMWorkers int
	// PublicPrefixNamespace is the operator's namespace whose root Prefixes labelled
	// ipam.ferrite.dev/virtual-ips=true are the public address pools of VirtualIPs. Labelled
	// prefixes in any other namespace are ignored, with a Warning event.
	PublicPrefixNamespace string
	// PublicAddressQuarantine is how long the address of a deleted VirtualIP stays claimed
	// before it may be handed out again: longer than the netagents' BGP graceful restart keeps
	// a dead host's stale routes (120 s), so no other tenant's traffic follows them. Zero lets
	// addresses go at once.
	PublicAddressQuarantine time.Duration
	// SeveralManagersInProcess lets tests and benchmarks run more than one manager in one process
	// (controller names are otherwise unique per process, for their metrics).
	SeveralManagersInProcess bool
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{
		MetricsAddress:          "127.0.0.1:8480",
		HealthAddress:           "127.0.0.1:8481",
		LeaderElectionNamespace: "ferrite-system",
		LeaderElectionID:        "ferrite-controller-manager",
		SchedulerPolicy:         placement.Spread,
		SchedulerWorkers:        160,
		HeartbeatGrace:          40 * time.Second,
		RetryInterval:           30 * time.Second,
		LedgerResync:            time.Minute,
		LedgerMissingGrace:      30 * time.Second,
		QuotaReleaseGrace:       60 * time.Second,
		LedgerGrowthGrace:       2 * time.Minute,
		IPAMReleaseGrace:        10 * time.Second,
		IPAMWorkers:             8,
		PublicPrefixNamespace:   "ferrite-system",
		PublicAddressQuarantine: 3 * time.Minute,
	}
}

// AddFlags registers the options on fs. --leader-elect is resolved by the caller, which knows
// whether the flag was given.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.MetricsAddress, "metrics-bind-address", o.MetricsAddress, "address of the Prometheus metrics endpoint (\"0\" disables it)")
	fs.StringVar(&o.HealthAddress, "health-probe-bind-address", o.HealthAddress, "address of the /healthz and /readyz endpoints")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", o.LeaderElectionNamespace, "namespace of the leader election Lease")
	fs.StringVar(&o.LeaderElectionID, "leader-election-id", o.LeaderElectionID, "name of the leader election Lease")
	fs.StringVar((*string)(&o.SchedulerPolicy), "scheduler-policy", string(o.SchedulerPolicy), "how the schedulers choose among feasible pools: spread or binpack")
	fs.IntVar(&o.SchedulerWorkers, "scheduler-workers", o.SchedulerWorkers, "concurrent API calls (binds, condition writes) of each scheduler")
	fs.DurationVar(&o.HeartbeatGrace, "pool-heartbeat-grace", o.HeartbeatGrace, "how long a pool may miss heartbeats before it is Ready=Unknown")
	fs.DurationVar(&o.RetryInterval, "unschedulable-retry-interval", o.RetryInterval, "how often unschedulable objects are re-examined without a pool change")
	fs.DurationVar(&o.LedgerResync, "ledger-resync-interval", o.LedgerResync, "how often every pool and prefix ledger is re-examined")
	fs.DurationVar(&o.LedgerGrowthGrace, "ledger-growth-grace", o.LedgerGrowthGrace, "how long a volume growth reserved in a pool ledger by resize admission may wait for its volume update before it is given back")
	fs.DurationVar(&o.QuotaReleaseGrace, "quota-release-grace", o.QuotaReleaseGrace, "how long a ResourceQuota's status must stay unchanged before used may be lowered (longer than any create request)")
	fs.DurationVar(&o.LedgerMissingGrace, "ledger-missing-grace", o.LedgerMissingGrace, "how long a pool ledger entry whose object the cache does not know is kept (another manager's fresh create) before it is dropped")
	fs.IntVar(&o.IPAMWorkers, "ipam-workers", o.IPAMWorkers, "concurrent address allocations per kind")
	fs.DurationVar(&o.IPAMReleaseGrace, "ipam-release-grace", o.IPAMReleaseGrace, "how long an unclaimed address stays reserved before it returns to its prefix")
	fs.DurationVar(&o.PublicAddressQuarantine, "public-address-quarantine", o.PublicAddressQuarantine, "how long the address of a deleted VirtualIP stays claimed before it may be handed out again (longer than the netagents' 120 s BGP graceful restart; 0 lets it go at once)")
	fs.StringVar(&o.PublicPrefixNamespace, "public-prefix-namespace", o.PublicPrefixNamespace, "the operator's namespace whose root Prefixes labelled ipam.ferrite.dev/virtual-ips=true are the public address pools of VirtualIPs")
}
