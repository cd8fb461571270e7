//go:build e2e

package brokers

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
)

// rounds is how many machines TestCreateToRunning creates at each level, one after another.
const rounds = 3

// TestCreateToRunning measures create-to-Running of a Machine made in the zone itself, in the
// region (one broker) and in the global cluster (two brokers), one machine at a time with the
// guest image cached, and prints what each broker level adds. It also counts the requests the
// region's brokers made to the zone's kube-apiserver (its audit log) for each region create,
// and in an idle minute afterwards; a broker that answered its poollet with live LISTs (the
// anchor's design: the poollet's relist every 5 s is a LIST on the cluster below) would show
// them there. It fails on a LIST made per create or while idle, never on a time.
func TestCreateToRunning(t *testing.T) {
	levels := []*level{zone, region, global}
	times := map[string][]time.Duration{}
	requests := map[string]int{}
	var regionCreates int
	for round := 0; round < rounds; round++ {
		for _, l := range levels {
			name := fmt.Sprintf("lat-%s-%d", l.name, round)
			start := time.Now()
			l.suite.Apply(t, machineManifest(name, ""))
			l.waitMachine(t, namespace, name, computev1alpha1.MachineStateRunning, bootTimeout)
			took := time.Since(start)
			times[l.name] = append(times[l.name], took)
			if l == region {
				// The broker's own writes and reads for this machine, until it runs.
				for key, n := range brokerRequests(t, start, time.Now()) {
					requests[key] += n
				}
				regionCreates++
			}
			l.suite.MustKubectl(t, "delete", "machine/"+name, "--wait=false")
			l.waitMachineGone(t, namespace, name, 3*time.Minute)
		}
	}

	t.Logf("create to Running, %d machines per level, one at a time (image cached):", rounds)
	t.Logf("%-8s %-8s %8s %8s %8s %12s", "level", "brokers", "min", "p50", "max", "extra (p50)")
	base := median(times[zone.name])
	for i, l := range levels {
		d := times[l.name]
		t.Logf("%-8s %-8d %8s %8s %8s %12s", l.name, i, round(slices.Min(d)), round(median(d)), round(slices.Max(d)), round(median(d)-base))
	}

	logRequests(t, fmt.Sprintf("for %d region Machine creates, each from create to Running (sums)", regionCreates), requests)

	idleStart := time.Now()
	time.Sleep(time.Minute)
	idle := brokerRequests(t, idleStart, time.Now())
	logRequests(t, "in an idle minute (the anchor's design: at least 12 LISTs a minute per pool, each as large as the namespace's Machines)", idle)
}

// logRequests prints the brokers' requests to the zone, by verb and resource, and fails on a
// LIST: the brokers read through informers (each LISTs once when it starts, and only again
// when its watch cannot resume).
func logRequests(t *testing.T, what string, requests map[string]int) {
	t.Helper()
	keys := make([]string, 0, len(requests))
	total := 0
	for key, n := range requests {
		keys = append(keys, key)
		total += n
	}
	sort.Strings(keys)
	t.Logf("the zone kube-apiserver's requests from the region's brokers %s: %d", what, total)
	for _, key := range keys {
		t.Logf("  %-40s %4d", key, requests[key])
		if strings.HasPrefix(key, "list ") {
			t.Errorf("the brokers LISTed %s: they must read through their informers", strings.TrimPrefix(key, "list "))
		}
	}
}

// auditEvent is what brokerRequests reads of an audit.k8s.io/v1 Event.
type auditEvent struct {
	AuditID   string                    `json:"auditID"`
	Stage     string                    `json:"stage"`
	Verb      string                    `json:"verb"`
	User      struct{ Groups []string } `json:"user"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
	} `json:"objectRef"`
	RequestReceivedTimestamp time.Time `json:"requestReceivedTimestamp"`
}

// brokerRequests counts, from the zone's audit log, the requests of the brokers' identities
// received in [from, to], by "verb resource[/subresource]". A watch counts once.
func brokerRequests(t testing.TB, from, to time.Time) map[string]int {
	t.Helper()
	file, err := os.Open(zone.cluster.AuditLogPath())
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	seen := map[string]bool{}
	counts := map[string]int{}
	scanner := bufio.NewScanner(file)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		var e auditEvent
		if err := json.Unmarshal(scanner.Bytes(), &e); err != nil || seen[e.AuditID] {
			continue
		}
		if e.RequestReceivedTimestamp.Before(from) || e.RequestReceivedTimestamp.After(to) || e.ObjectRef == nil {
			continue
		}
		if !slices.Contains(e.User.Groups, "ferrite:machinebrokers") && !slices.Contains(e.User.Groups, "ferrite:volumebrokers") {
			continue
		}
		seen[e.AuditID] = true
		resource := e.ObjectRef.Resource
		if e.ObjectRef.Subresource != "" {
			resource += "/" + e.ObjectRef.Subresource
		}
		counts[e.Verb+" "+resource]++
	}
	if err := scanner.Err(); err != nil {
		t.Fatal(err)
	}
	return counts
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func round(d time.Duration) string { return d.Round(10 * time.Millisecond).String() }
