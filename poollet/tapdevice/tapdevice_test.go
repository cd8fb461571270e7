package tapdevice

import (
	"regexp"
	"testing"
)

func TestNamesAreStableValidAndDistinct(t *testing.T) {
	mac := regexp.MustCompile(`^02(:[0-9a-f]{2}){5}$`)
	seenTaps, seenMACs := map[string]bool{}, map[string]bool{}
	for _, uid := range []string{"0b9e5b7e-0d7e-4c1c-9d6f-3c1f2a7d9e10", "0b9e5b7e-0d7e-4c1c-9d6f-3c1f2a7d9e11", "x"} {
		tap, m := Name(uid), MACAddress(uid)
		if tap != Name(uid) || m != MACAddress(uid) {
			t.Fatalf("not stable for %s", uid)
		}
		if len(tap) != 15 || tap[:2] != Prefix {
			t.Errorf("tap %q: want 15 characters starting with %q", tap, Prefix)
		}
		if !mac.MatchString(m) {
			t.Errorf("MAC %q is not a locally administered unicast address", m)
		}
		if seenTaps[tap] || seenMACs[m] {
			t.Errorf("collision for %s", uid)
		}
		seenTaps[tap], seenMACs[m] = true, true
	}
}
