//go:build e2e

package ha

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/ferrite-dev/ferrite/apiserver"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	"github.com/ferrite-dev/ferrite/registry/networking/vni"
	"github.com/ferrite-dev/ferrite/test/e2e/durable"
)

// checkAfterRecovery waits until every process is back and checks what was stored: every
// Machine and Network whose create was acknowledged, through the API and (Machines) decoded
// straight from etcd, exactly once; unique VNIs, each claimed in etcd by its Network.
func checkAfterRecovery(ctx context.Context, t *testing.T, s *system, client versioned.Interface, machineSet, networkSet *durable.Set) {
	for i := range s.local.FerriteReplicas() {
		if err := s.local.WaitFerriteReplica(ctx, i, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range s.etcd.Members {
		if err := s.etcd.WaitMember(ctx, m); err != nil {
			t.Fatal(err)
		}
	}

	machineList, err := client.ComputeV1alpha1().Machines(namespace).List(ctx, metav1.ListOptions{})
	for attempt := 0; err != nil && attempt < 100; attempt++ {
		if _, retryable := durable.Classify(err); !retryable {
			break
		}
		time.Sleep(200 * time.Millisecond)
		machineList, err = client.ComputeV1alpha1().Machines(namespace).List(ctx, metav1.ListOptions{})
	}
	if err != nil {
		t.Fatalf("listing the Machines after recovery: %v", err)
	}
	writers := map[string]string{}
	for _, m := range machineList.Items {
		writers[m.Name] = m.Annotations[durable.WriterKey]
	}
	summary := durable.CheckListed(t, machineSet, writers)
	t.Logf("Machines through the API: %s", summary)
	if summary.Retried == 0 {
		t.Errorf("no Machine create was retried: the kills hit no request in flight")
	}
	t.Logf("Machines in etcd: %s", durable.CheckMachinesInEtcd(t, s.etcd.Client, machineSet))

	networkList, err := client.NetworkingV1alpha1().Networks(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("listing the Networks after recovery: %v", err)
	}
	writers = map[string]string{}
	owner := map[int32]string{}
	holders := map[int32]vni.Holder{}
	for _, n := range networkList.Items {
		writers[n.Name] = n.Annotations[durable.WriterKey]
		id := n.Status.VNI
		if id < vni.Min || id > vni.Max {
			t.Errorf("network %s has VNI %d, outside %d-%d", n.Name, id, vni.Min, vni.Max)
		}
		if other, dup := owner[id]; dup {
			t.Errorf("VNI %d is the VNI of both %s and %s", id, other, n.Name)
		}
		owner[id] = n.Name
		holders[id] = vni.Holder{Namespace: n.Namespace, Name: n.Name, UID: n.UID}
	}
	t.Logf("Networks through the API: %s; %d distinct VNIs", durable.CheckListed(t, networkSet, writers), len(owner))

	claims, err := vni.NewAllocator(s.etcd.Client, apiserver.EtcdPathPrefix+"/networking.ferrite.dev/vniclaims/", vni.NewOptions()).Claims(ctx)
	if err != nil {
		t.Fatal(err)
	}
	claimed := map[int32]vni.Claim{}
	orphans := 0
	for _, c := range claims {
		claimed[c.VNI] = c
		if h, ok := holders[c.VNI]; c.Released == nil && (!ok || !c.HeldBy(h)) {
			orphans++
		}
	}
	for id, h := range holders {
		if c, ok := claimed[id]; !ok || !c.HeldBy(h) {
			t.Errorf("VNI %d of network %s: claim %+v, want one held by the network (uid %s)", id, h.Name, c, h.UID)
		}
	}
	// A create that failed with its outcome open keeps its claim (registry/networking/network);
	// the repair pass reclaims it after its grace.
	t.Logf("VNI claims in etcd: %d, each stored Network's held by it; %d live claims without their Network (creates whose outcome was open; the repair pass reclaims them)", len(claims), orphans)

	for i := range s.local.FerriteReplicas() {
		counts, err := postCounts(ctx, s.local.FerriteReplicaConfig(i))
		if err != nil {
			t.Errorf("reading the metrics of ferrite-apiserver-%d: %v", i, err)
			continue
		}
		t.Logf("ferrite-apiserver-%d answered, since its last start, %s", i, counts)
	}
}

// postCounts reads from the server's /metrics how many creates of Machines and Networks it
// answered, by status code.
func postCounts(ctx context.Context, config *rest.Config) (string, error) {
	client, err := rest.HTTPClientFor(config)
	if err != nil {
		return "", err
	}
	request, err := http.NewRequestWithContext(ctx, http.MethodGet, config.Host+"/metrics", nil)
	if err != nil {
		return "", err
	}
	response, err := client.Do(request)
	if err != nil {
		return "", err
	}
	defer response.Body.Close()
	if response.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(response.Body)
		return "", fmt.Errorf("/metrics: %s: %s", response.Status, body)
	}
	counts := map[string]float64{}
	scanner := bufio.NewScanner(response.Body)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		line := scanner.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") || !strings.Contains(line, `verb="POST"`) {
			continue
		}
		for _, resource := range []string{"machines", "networks"} {
			if !strings.Contains(line, `resource="`+resource+`"`) {
				continue
			}
			code := between(line, `code="`, `"`)
			value, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			if err == nil {
				counts[resource+" "+code] += value
			}
		}
	}
	if err := scanner.Err(); err != nil {
		return "", err
	}
	var parts []string
	for _, resource := range []string{"machines", "networks"} {
		var codes []string
		for key, value := range counts {
			if r, code, _ := strings.Cut(key, " "); r == resource {
				codes = append(codes, fmt.Sprintf("%s: %.0f", code, value))
			}
		}
		sort.Strings(codes)
		parts = append(parts, fmt.Sprintf("%s creates %v", resource, codes))
	}
	return strings.Join(parts, ", "), nil
}

func between(s, start, end string) string {
	_, rest, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	value, _, _ := strings.Cut(rest, end)
	return value
}
