package localcluster

import (
	"os"
	"path/filepath"
	"testing"
)

// Ports chosen for one cluster are distinct, and reused from the record while free.
func TestPortsDistinctAndKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ports")
	for range 50 {
		p, err := loadPorts(path)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[int]bool{}
		for _, port := range []int{p.etcdClient, p.etcdPeer, p.kubeAPIServer, p.ferrite} {
			if port == 0 || seen[port] {
				t.Fatalf("ports %+v: zero or repeated", p)
			}
			seen[port] = true
		}
		again, err := loadPorts(path)
		if err != nil {
			t.Fatal(err)
		}
		if again != p {
			t.Fatalf("recorded ports %+v not reused: %+v", p, again)
		}
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}
}
