package dataplane

import (
	"net/netip"
	"testing"
)

func TestInterfaceValidate(t *testing.T) {
	ok := Interface{Name: "tap0", VNI: 7, Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]Interface{
		"no name":   {VNI: 7},
		"vni 0":     {Name: "tap0"},
		"vni big":   {Name: "tap0", VNI: 1 << 24},
		"host bits": {Name: "tap0", VNI: 7, Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}},
	} {
		if bad.Validate() == nil {
			t.Errorf("%s: %+v validated", name, bad)
		}
	}
}
