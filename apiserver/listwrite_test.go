package apiserver_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	jsonserializer "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/client-go/rest"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver"
)

// listMachine is a Machine with the map and quantity fields that make up most of a LIST.
func listMachine(name string, i int) *computev1alpha1.Machine {
	size := resource.MustParse(fmt.Sprintf("%dGi", 1+i%7))
	return &computev1alpha1.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "list", "index": fmt.Sprint(i)}},
		Spec: computev1alpha1.MachineSpec{
			MachineClassRef:     ref("small"),
			MachinePoolSelector: map[string]string{"topology.ferrite.dev/zone": "zone-a"},
			Image:               "ghcr.io/ferrite-dev/images/debian:12",
			Volumes: []computev1alpha1.MachineVolume{{Name: "scratch", Device: "vdb",
				EmptyDisk: &computev1alpha1.EmptyDiskSource{SizeLimit: &size}}},
		},
	}
}

// createListMachines creates count listMachines in namespace and returns an HTTP client of the
// test server's admin.
func createListMachines(t *testing.T, namespace string, count int) *http.Client {
	t.Helper()
	ctx := testContext(t)
	machines := server.Client.ComputeV1alpha1().Machines(namespace)
	for i := range count {
		if _, err := machines.Create(ctx, listMachine(fmt.Sprintf("m-%03d", i), i), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	client, err := rest.HTTPClientFor(server.Config)
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// getOK sends req and returns the response and its body, which must be 200 OK.
func getOK(t *testing.T, client *http.Client, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, %v", resp.StatusCode, err)
	}
	return resp, body
}

// TestJSONListBytes lists enough Machines as JSON, without and with gzip, to fill the LIST
// write buffer several times, and checks that the body is exactly what Kubernetes' streaming
// JSON encoder writes for the same list: decoded and encoded again, byte for byte.
func TestJSONListBytes(t *testing.T) {
	ctx := testContext(t)
	const namespace, count = "jsonlist", 300
	client := createListMachines(t, namespace, count)
	serializer := jsonserializer.NewSerializerWithOptions(jsonserializer.DefaultMetaFactory, apiserver.Scheme, apiserver.Scheme,
		jsonserializer.SerializerOptions{StreamingCollectionsEncoding: true})
	for _, encoding := range []string{"identity", "gzip"} {
		t.Run(encoding, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet,
				server.Config.Host+"/apis/compute.ferrite.dev/v1alpha1/namespaces/"+namespace+"/machines", nil)
			req.Header.Set("Accept", "application/json")
			if encoding == "identity" {
				// With the header set, the transport neither asks for gzip nor decompresses.
				req.Header.Set("Accept-Encoding", "identity")
			}
			resp, body := getOK(t, client, req)
			if resp.ProtoMajor != 2 {
				t.Fatalf("served over %s; the buffer is for HTTP/2", resp.Proto)
			}
			if gzipped := resp.Uncompressed; gzipped != (encoding == "gzip") {
				t.Fatalf("response gzip-compressed: %v", gzipped)
			}
			list := &computev1alpha1.MachineList{}
			if _, _, err := serializer.Decode(body, nil, list); err != nil {
				t.Fatalf("decoding the %d-byte list: %v", len(body), err)
			}
			if len(list.Items) != count || len(body) < 3*64<<10 {
				t.Fatalf("%d items in %d bytes, want %d items in more than 3 buffers", len(list.Items), len(body), count)
			}
			var want bytes.Buffer
			if err := serializer.Encode(list, &want); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(body, want.Bytes()) {
				at := 0
				for at < len(body) && at < want.Len() && body[at] == want.Bytes()[at] {
					at++
				}
				t.Fatalf("the body (%d bytes) differs from the encoder's output (%d bytes) at byte %d", len(body), want.Len(), at)
			}
		})
	}
}

// TestJSONWatchEventsArrive checks that a watch is not held back by the LIST buffer: each
// event arrives on its own, before the next object is created.
func TestJSONWatchEventsArrive(t *testing.T) {
	ctx := testContext(t)
	const namespace = "jsonwatch"
	machines := server.Client.ComputeV1alpha1().Machines(namespace)
	start, err := machines.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	client, err := rest.HTTPClientFor(server.Config)
	if err != nil {
		t.Fatal(err)
	}
	watchCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, _ := http.NewRequestWithContext(watchCtx, http.MethodGet, server.Config.Host+"/apis/compute.ferrite.dev/v1alpha1/namespaces/"+
		namespace+"/machines?watch=true&resourceVersion="+start.ResourceVersion, nil)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := make(chan metav1.WatchEvent)
	go func() {
		decoder := json.NewDecoder(bufio.NewReader(resp.Body))
		for {
			var event metav1.WatchEvent
			if decoder.Decode(&event) != nil {
				close(events)
				return
			}
			events <- event
		}
	}()
	for i := range 3 {
		name := fmt.Sprintf("w-%d", i)
		created := time.Now()
		if _, err := machines.Create(ctx, listMachine(name, i), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		select {
		case event, ok := <-events:
			if !ok {
				t.Fatal("the watch ended")
			}
			var m computev1alpha1.Machine
			if err := json.Unmarshal(event.Object.Raw, &m); err != nil || event.Type != "ADDED" || m.Name != name {
				t.Fatalf("event %d: %s %s (%v), want ADDED %s", i, event.Type, m.Name, err, name)
			}
			t.Logf("ADDED %s after %v", name, time.Since(created).Round(time.Millisecond))
		case <-time.After(5 * time.Second):
			t.Fatalf("no event for %s 5 s after its create", name)
		}
	}
}

// TestProtobufListFromEncodedItems lists Machines as protobuf, as client-go does, twice (the
// second time from the cache of encoded items), and checks that each body is byte for byte
// what Kubernetes' protobuf serializer writes for the list it decodes to; after an update the
// changed Machine is listed as it is now.
func TestProtobufListFromEncodedItems(t *testing.T) {
	ctx := testContext(t)
	const namespace, count = "protolist", 300
	machines := server.Client.ComputeV1alpha1().Machines(namespace)
	client := createListMachines(t, namespace, count)
	info, _ := runtime.SerializerInfoForMediaType(apiserver.Codecs.SupportedMediaTypes(), runtime.ContentTypeProtobuf)
	list := func() *computev1alpha1.MachineList {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet,
			server.Config.Host+"/apis/compute.ferrite.dev/v1alpha1/namespaces/"+namespace+"/machines?resourceVersion=0", nil)
		req.Header.Set("Accept", runtime.ContentTypeProtobuf)
		resp, body := getOK(t, client, req)
		// Asked for gzip by the transport; the list is over the 128 KiB from which it is used.
		if !resp.Uncompressed {
			t.Fatalf("a %d-byte list was not gzip-compressed", len(body))
		}
		got := &computev1alpha1.MachineList{}
		if _, _, err := info.Serializer.Decode(body, nil, got); err != nil {
			t.Fatalf("decoding the %d-byte list: %v", len(body), err)
		}
		var want bytes.Buffer
		if err := info.Serializer.Encode(got, &want); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(body, want.Bytes()) {
			t.Fatalf("the body (%d bytes) differs from Kubernetes' encoding of it (%d bytes)", len(body), want.Len())
		}
		return got
	}
	// The watch cache may lag the creates by an event or two.
	var first *computev1alpha1.MachineList
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if first = list(); len(first.Items) == count || time.Now().After(deadline) {
			break
		}
	}
	if second := list(); len(first.Items) != count || len(second.Items) != count {
		t.Fatalf("%d and %d items, want %d", len(first.Items), len(second.Items), count)
	}

	changed := first.Items[7].DeepCopy()
	changed.Labels["app"] = "changed"
	updated, err := machines.Update(ctx, changed, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got := list().Items[7]
		if got.ResourceVersion == updated.ResourceVersion {
			if got.Labels["app"] != "changed" {
				t.Fatalf("%s at resourceVersion %s has labels %v", got.Name, got.ResourceVersion, got.Labels)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still at resourceVersion %s, updated to %s", got.Name, got.ResourceVersion, updated.ResourceVersion)
		}
	}
}
