package apiserver

import (
	"strings"
	"testing"
)

// TestListCacheSizeFlag checks that a bad --list-cache-size is refused, naming the flag, and
// that 0 turns the cache off.
func TestListCacheSizeFlag(t *testing.T) {
	for _, bad := range []string{"lots", "-1Mi", ""} {
		o := ListCacheOptions{Size: bad}
		if errs := o.Validate(); len(errs) == 0 || !strings.Contains(errs[0].Error(), "--list-cache-size") {
			t.Errorf("--list-cache-size %q: %v, want an error naming the flag", bad, errs)
		}
	}
	for size, on := range map[string]bool{"0": false, DefaultListCacheSize: true, "1Gi": true} {
		o := ListCacheOptions{Size: size}
		if errs := o.Validate(); len(errs) != 0 {
			t.Errorf("--list-cache-size %q refused: %v", size, errs)
		}
		if got := o.cache() != nil; got != on {
			t.Errorf("--list-cache-size %q: cache %v, want %v", size, got, on)
		}
	}
}
