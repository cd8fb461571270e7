package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferrite-dev/ferrite/net/dataplane"
)

func TestPublicVNIConfig(t *testing.T) {
	write := func(body string) string {
		path := filepath.Join(t.TempDir(), "netagent.json")
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	const base = `{"routerID": "192.0.2.1", "localAddress": "192.0.2.1", "reflectors": ["192.0.2.9:179"], `
	cfg, err := readConfig(write(base + `"publicVNI": 16777215}`))
	if err != nil || cfg.PublicVNI != 16777215 {
		t.Fatalf("publicVNI read as %d (%v)", cfg.PublicVNI, err)
	}
	if _, err := readConfig(write(base + `"publicVNI": 16777216}`)); err == nil {
		t.Error("publicVNI beyond 24 bits accepted")
	}
	vip := `"interfaces": [{"name": "tap0", "vni": 7, "addresses": ["10.0.0.1/32"], "virtualIP": "203.0.113.1"}]`
	if _, err := readConfig(write(base + vip + `}`)); err == nil || !strings.Contains(err.Error(), "tap0") {
		t.Errorf("a public service without publicVNI: %v, want an error naming tap0", err)
	}
	if _, err := readConfig(write(base + vip + `, "publicVNI": 16777215}`)); err != nil {
		t.Errorf("a public service with publicVNI: %v", err)
	}
}

// Without a public VNI the API's public services are left out, the interfaces themselves kept.
func TestWithoutPublic(t *testing.T) {
	plain := dataplane.Interface{Name: "tap0", VNI: 7}
	vip := dataplane.Interface{Name: "tap1", VNI: 7, VirtualIP: netip.MustParseAddr("203.0.113.1"),
		LoadBalancers: []dataplane.LoadBalancer{{IP: netip.MustParseAddr("203.0.113.2")}}}
	got, names := withoutPublic([]dataplane.Interface{plain, vip})
	if len(got) != 2 || got[1].Public() || got[1].Name != "tap1" || len(names) != 1 || names[0] != "tap1" {
		t.Fatalf("got %+v, refused %v", got, names)
	}
}
