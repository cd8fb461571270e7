package kernel

import (
	"os"
	"testing"
)

func TestProbeFindsRequired(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("probing needs root")
	}
	rep, err := Probe()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kernel: %s", rep)
	if err := rep.Require(Required...); err != nil {
		t.Skipf("this kernel cannot run the kernel dataplane: %v", err)
	}
	if rep.Require("no-such-device") == nil {
		t.Error("an unprobed type is reported present")
	}
}
