package poolstatus

import (
	"maps"
	"testing"
)

func TestParseLabels(t *testing.T) {
	got, err := ParseLabels("topology.ferrite.dev/zone=a, tier=gold,")
	if err != nil || !maps.Equal(got, map[string]string{"topology.ferrite.dev/zone": "a", "tier": "gold"}) {
		t.Fatalf("ParseLabels: %v %v", got, err)
	}
	if got, err := ParseLabels(""); err != nil || len(got) != 0 {
		t.Fatalf("empty: %v %v", got, err)
	}
	if _, err := ParseLabels("zone"); err == nil {
		t.Fatal("a term without = was accepted")
	}
}
