package main

import (
	"maps"
	"testing"
)

func TestParseSelector(t *testing.T) {
	got, err := parseSelector("topology.ferrite.dev/zone=a, tier=gold,")
	if err != nil || !maps.Equal(got, map[string]string{"topology.ferrite.dev/zone": "a", "tier": "gold"}) {
		t.Fatalf("parseSelector: %v %v", got, err)
	}
	if got, err := parseSelector(""); err != nil || len(got) != 0 {
		t.Fatalf("empty selector: %v %v", got, err)
	}
	if _, err := parseSelector("zone"); err == nil {
		t.Fatal("a term without = was accepted")
	}
}
