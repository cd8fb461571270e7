package libvirt

import (
	"testing"

	"libvirt.org/go/libvirt"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

func TestStateMapping(t *testing.T) {
	const (
		pending     = runtimev1alpha1.MachineState_MACHINE_STATE_PENDING
		running     = runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING
		stopped     = runtimev1alpha1.MachineState_MACHINE_STATE_STOPPED
		terminating = runtimev1alpha1.MachineState_MACHINE_STATE_TERMINATING
		failed      = runtimev1alpha1.MachineState_MACHINE_STATE_ERROR
	)
	shutoff := func(r libvirt.DomainShutoffReason) observation {
		return observation{exists: true, state: libvirt.DOMAIN_SHUTOFF, reason: int(r)}
	}
	active := func(s libvirt.DomainState, r int) observation {
		return observation{exists: true, state: s, reason: r, active: true}
	}
	for _, c := range []struct {
		name       string
		m          *machine
		wantState  runtimev1alpha1.MachineState
		wantReason string
	}{
		{"pulling", &machine{rec: &record{}, pendingReason: "ImagePulling", obs: shutoff(0)}, pending, "ImagePulling"},
		{"image missing", &machine{rec: &record{}, errReason: "ImagePullFailed", obs: shutoff(0)}, failed, "ImagePullFailed"},
		{"deleting", &machine{rec: &record{Prepared: true}, deleting: true, obs: active(libvirt.DOMAIN_RUNNING, 1)}, terminating, "Deleting"},
		{"running", &machine{rec: &record{Prepared: true}, obs: active(libvirt.DOMAIN_RUNNING, 1)}, running, ""},
		{"paused", &machine{rec: &record{Prepared: true}, obs: active(libvirt.DOMAIN_PAUSED, int(libvirt.DOMAIN_PAUSED_IOERROR))}, running, "Paused"},
		{"suspended", &machine{rec: &record{Prepared: true}, obs: active(libvirt.DOMAIN_PMSUSPENDED, 0)}, running, "Suspended"},
		{"shutting down", &machine{rec: &record{Prepared: true}, obs: active(libvirt.DOMAIN_SHUTDOWN, 0)}, running, "ShuttingDown"},
		{"crashed (paused)", &machine{rec: &record{Prepared: true}, obs: active(libvirt.DOMAIN_CRASHED, 0)}, failed, "Crashed"},
		{"created off", &machine{rec: &record{Prepared: true}, obs: shutoff(libvirt.DOMAIN_SHUTOFF_UNKNOWN)}, stopped, "PoweredOff"},
		{"guest shutdown", &machine{rec: &record{Prepared: true, StopReason: "GuestShutdown"}, obs: shutoff(libvirt.DOMAIN_SHUTOFF_SHUTDOWN)}, stopped, "GuestShutdown"},
		{"forced", &machine{rec: &record{Prepared: true, StopReason: "ForcedOff"}, obs: shutoff(libvirt.DOMAIN_SHUTOFF_DESTROYED)}, stopped, "ForcedOff"},
		{"crashed", &machine{rec: &record{Prepared: true, StopReason: "Crashed"}, obs: shutoff(libvirt.DOMAIN_SHUTOFF_CRASHED)}, failed, "Crashed"},
		{"start failed", &machine{rec: &record{Prepared: true, StopReason: "StartFailed"}, obs: shutoff(libvirt.DOMAIN_SHUTOFF_FAILED)}, failed, "StartFailed"},
	} {
		state, reason, _ := c.m.stateOf()
		if state != c.wantState || reason != c.wantReason {
			t.Errorf("%s: %v %q, want %v %q", c.name, state, reason, c.wantState, c.wantReason)
		}
	}
	// Why a guest the provider saw running stopped.
	m := &machine{}
	for r, want := range map[libvirt.DomainShutoffReason]string{
		libvirt.DOMAIN_SHUTOFF_SHUTDOWN: "GuestShutdown", libvirt.DOMAIN_SHUTOFF_DESTROYED: "ForcedOff",
		libvirt.DOMAIN_SHUTOFF_CRASHED: "Crashed", libvirt.DOMAIN_SHUTOFF_FAILED: "StartFailed",
	} {
		if got, _ := m.stopReasonOf(shutoff(r)); got != want {
			t.Errorf("shutoff reason %v: %s, want %s", r, got, want)
		}
	}
	m.expectStop = "PoweredOff"
	if got, _ := m.stopReasonOf(shutoff(libvirt.DOMAIN_SHUTOFF_SHUTDOWN)); got != "PoweredOff" {
		t.Errorf("a shutdown the provider asked for: %s", got)
	}
}
