package apiserver_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"net/http"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
)

// TestWireFormats writes and reads the same object as JSON, protobuf and CBOR through the
// generated clientset, and checks each format reads what another wrote.
func TestWireFormats(t *testing.T) {
	ctx := testContext(t)
	for _, contentType := range []string{"application/json", "application/vnd.kubernetes.protobuf", "application/cbor"} {
		t.Run(contentType, func(t *testing.T) {
			config := rest.CopyConfig(server.Config)
			config.ContentType = contentType
			config.AcceptContentTypes = contentType
			client, err := versioned.NewForConfig(config)
			if err != nil {
				t.Fatal(err)
			}
			machines := client.ComputeV1alpha1().Machines("wire")
			name := "m-" + map[string]string{"application/json": "json", "application/vnd.kubernetes.protobuf": "proto", "application/cbor": "cbor"}[contentType]
			created, err := machines.Create(ctx, &computev1alpha1.Machine{ObjectMeta: objectMeta(name),
				Spec: computev1alpha1.MachineSpec{MachineClassRef: ref("small"), Image: "img", MachinePoolSelector: map[string]string{"zone": "a"}}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("create as %s: %v", contentType, err)
			}
			// Read back with the default client (protobuf preferred) and through a list.
			got, err := server.Client.ComputeV1alpha1().Machines("wire").Get(ctx, name, metav1.GetOptions{})
			if err != nil || got.Spec.Image != "img" || got.Spec.MachinePoolSelector["zone"] != "a" || got.UID != created.UID {
				t.Fatalf("read back: %v %+v", err, got)
			}
			list, err := machines.List(ctx, metav1.ListOptions{})
			if err != nil || len(list.Items) == 0 {
				t.Fatalf("list as %s: %v", contentType, err)
			}
		})
	}
}

// TestMalformedBodies checks that garbage is refused with 400, never a 500.
func TestMalformedBodies(t *testing.T) {
	client, err := rest.HTTPClientFor(server.Config)
	if err != nil {
		t.Fatal(err)
	}
	url := server.Config.Host + "/apis/compute.ferrite.dev/v1alpha1/namespaces/wire/machines"
	for name, body := range map[string]struct {
		contentType string
		data        []byte
	}{
		"truncated JSON":      {"application/json", []byte(`{"apiVersion":"compute.ferrite.dev/v1alpha1","kind":"Machine","metadata":{"name":`)},
		"wrong JSON type":     {"application/json", []byte(`{"apiVersion":"compute.ferrite.dev/v1alpha1","kind":"Machine","metadata":{"name":"x"},"spec":{"volumes":"many"}}`)},
		"garbage protobuf":    {"application/vnd.kubernetes.protobuf", []byte{0x6b, 0x38, 0x73, 0x00, 0xff, 0xff, 0x01}},
		"garbage CBOR":        {"application/cbor", []byte{0xd9, 0xd9, 0xf7, 0xbf, 0xff, 0x00}},
		"YAML that is a list": {"application/yaml", []byte("- a\n- b\n")},
	} {
		t.Run(name, func(t *testing.T) {
			request, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(body.data))
			request.Header.Set("Content-Type", body.contentType)
			response, err := client.Do(request)
			if err != nil {
				t.Fatal(err)
			}
			response.Body.Close()
			if response.StatusCode != http.StatusBadRequest && response.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 400 (or 422 for a well-formed but invalid object)", response.StatusCode)
			}
		})
	}
}

// insecureTLS skips server verification: the tests that use it check what the server answers
// to a client without credentials, not who the server is.
func insecureTLS() *tls.Config { return &tls.Config{InsecureSkipVerify: true} } //nolint:gosec
