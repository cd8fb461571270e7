package reflector_test

import (
	"context"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/ferrite-dev/ferrite/net/reflector"
)

// TestPeeredReflectors: client A peers only with reflector 1 and client B only with reflector
// 2; the reflectors' mesh carries each one's route to the other.
func TestPeeredReflectors(t *testing.T) {
	port := freePort(t)
	// Each waits for the other's routes before it accepts clients: start them together.
	// t.Fatal must not run on another goroutine: that one only reports its error.
	type started struct {
		rr  *reflector.Reflector
		err error
	}
	done := make(chan started, 1)
	go func() {
		rr, err := reflector.Start(context.Background(), rrConfig(1, port, 2))
		done <- started{rr, err}
	}()
	rr2, err := reflector.Start(context.Background(), rrConfig(2, port, 1))
	first := <-done
	for _, rr := range []*reflector.Reflector{first.rr, rr2} {
		if rr != nil {
			t.Cleanup(rr.Stop)
		}
	}
	if first.err != nil || err != nil {
		t.Fatalf("reflector 1: %v; reflector 2: %v", first.err, err)
	}
	a := startSpeaker(t, clientAddr(1), "", netip.AddrPortFrom(rrAddr(1), uint16(port)))
	b := startSpeaker(t, clientAddr(2), "", netip.AddrPortFrom(rrAddr(2), uint16(port)))
	ra, rb := hostRoute(9, "10.9.0.1/32", a.addr), hostRoute(9, "10.9.0.2/32", b.addr)
	for _, c := range []struct {
		sp *speaker
		r  netip.Addr
	}{{a, a.addr}, {b, b.addr}} {
		c.sp.subscribe(t, 9)
	}
	a.announce(t, ra, a.addr)
	b.announce(t, rb, b.addr)
	if !eventually(wait, func() bool { return a.has(rb) && b.has(ra) }) {
		t.Fatalf("A has B's route: %v; B has A's route: %v", a.has(rb), b.has(ra))
	}
}

// TestGracefulRestart: reflector 1 is a process; clients A and B peer with it, A also with
// reflector 2. Reflector 1 is killed: B keeps A's route (stale). It comes back, takes reflector
// 2's routes before it accepts clients, and B's route is refreshed without a withdrawal.
func TestGracefulRestart(t *testing.T) {
	port := freePort(t)
	cfg1 := rrConfig(1, port, 2)
	cmd := startRRProcess(t, cfg1)
	startRR(t, rrConfig(2, port, 1))
	ep1, ep2 := netip.AddrPortFrom(rrAddr(1), uint16(port)), netip.AddrPortFrom(rrAddr(2), uint16(port))
	a := startSpeaker(t, clientAddr(1), "", ep1, ep2)
	b := startSpeaker(t, clientAddr(2), "", ep1)
	a.subscribe(t, 5)
	b.subscribe(t, 5)
	ra := hostRoute(5, "10.5.0.1/32", a.addr)
	a.announce(t, ra, a.addr)
	if !eventually(wait, func() bool { return b.has(ra) }) {
		t.Fatal("B never learned A's route")
	}

	t.Log(time.Now().Format("05.000"), "kill")
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if !eventually(wait, func() bool { return b.established() == 0 }) {
		t.Fatal("B never noticed the reflector's death")
	}
	time.Sleep(time.Second)
	if !b.has(ra) || b.withdrawals(ra) != 0 {
		t.Fatalf("B dropped A's route when the reflector died (has %v, %d withdrawals): no graceful restart", b.has(ra), b.withdrawals(ra))
	}

	t.Log(time.Now().Format("05.000"), "restart")
	startRRProcess(t, cfg1)
	t.Log(time.Now().Format("05.000"), "restarted")
	if !eventually(wait, func() bool { return b.established() == 1 }) {
		t.Fatal("B never reconnected")
	}
	// B has the route again from the new session once the reflector's End-of-RIB has swept the
	// stale copy; give the sweep time to happen.
	time.Sleep(2 * time.Second)
	if !b.has(ra) || b.withdrawals(ra) != 0 {
		t.Errorf("after the restart B has A's route: %v, withdrawals seen: %d", b.has(ra), b.withdrawals(ra))
	}
}
