package reflector_test

import (
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/ferrite-dev/ferrite/net/reflector"
	"github.com/ferrite-dev/ferrite/net/route"
)

// TestGuard: a good client's route is reflected; a forged next hop never enters the table; a
// wrong route distinguisher, a default route and a route into the underlay quarantine their
// client, whose routes all leave the table.
func TestGuard(t *testing.T) {
	port := freePort(t)
	rr := startRR(t, rrConfig(1, port))
	ep := netip.AddrPortFrom(rrAddr(1), uint16(port))
	observer := startSpeaker(t, clientAddr(100), "", ep)
	observer.subscribe(t, 7)

	good := startSpeaker(t, clientAddr(1), "", ep)
	goodRoute := hostRoute(7, "10.7.0.1/32", good.addr)
	good.announce(t, goodRoute, good.addr)

	// A forged next hop (another client's VTEP) is refused by GoBGP's policy, at once.
	forger := startSpeaker(t, clientAddr(2), "", ep)
	forged := hostRoute(7, "10.7.0.2/32", good.addr)
	forger.announce(t, forged, forger.addr)
	legit := hostRoute(7, "10.7.0.3/32", forger.addr)
	forger.announce(t, legit, forger.addr)

	if !eventually(wait, func() bool { return observer.has(goodRoute) && observer.has(legit) }) {
		t.Fatalf("good routes never reflected; table %v", observer.best)
	}
	if observer.has(forged) || observer.withdrawals(forged) > 0 {
		t.Errorf("route with a forged next hop reached another client")
	}

	cases := map[string]struct {
		r          route.Route
		originator netip.Addr
	}{
		"wrong originator": {hostRoute(7, "10.7.1.1/32", clientAddr(3)), clientAddr(1)},
		"default route":    {hostRoute(7, "0.0.0.0/0", clientAddr(4)), clientAddr(4)},
		"underlay host":    {hostRoute(7, clientAddr(1).String()+"/32", clientAddr(5)), clientAddr(5)},
	}
	i := 3
	for name, c := range cases {
		sp := startSpeaker(t, c.r.NextHop, "", ep)
		own := hostRoute(7, netip.AddrFrom4([4]byte{10, 7, 2, byte(i)}).String()+"/32", sp.addr)
		i++
		sp.announce(t, own, sp.addr)
		if !eventually(wait, func() bool { return observer.has(own) }) {
			t.Fatalf("%s: the client's own route never arrived", name)
		}
		sp.announce(t, c.r, c.originator)
		if !eventually(wait, func() bool { return !observer.has(own) && !observer.has(c.r) }) {
			t.Errorf("%s: client not quarantined (own route still reflected: %v, bad route: %v)", name, observer.has(own), observer.has(c.r))
		}
		if _, ok := rr.Quarantined()[sp.addr.String()]; !ok {
			t.Errorf("%s: %s not listed as quarantined: %v", name, sp.addr, rr.Quarantined())
		}
	}
	// A NAT default route is fine.
	nat := route.Route{VNI: 7, Prefix: netip.MustParsePrefix("0.0.0.0/0"), NextHop: good.addr, Kind: route.KindNAT, PortMin: 1024, PortMax: 2047}
	good.announce(t, nat, good.addr)
	if !eventually(wait, func() bool { return observer.has(nat) }) {
		t.Error("NAT default route refused")
	}
	if !observer.has(goodRoute) {
		t.Error("the good client lost its route")
	}
}

// TestPassword: with a TCP-MD5 password, a client without it or with another never gets a
// session; one with it does. Needs root (TCP_MD5SIG on 127.0.0.0/8 works in any netns).
func TestPassword(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("TCP-MD5 needs root")
	}
	if err := reflector.MD5Supported(); err != nil {
		t.Skip(err)
	}
	port := freePort(t)
	cfg := rrConfig(1, port)
	cfg.Password = "s3cret"
	startRR(t, cfg)
	ep := netip.AddrPortFrom(rrAddr(1), uint16(port))
	none := startSpeaker(t, clientAddr(1), "", ep)
	wrong := startSpeaker(t, clientAddr(2), "other", ep)
	right := startSpeaker(t, clientAddr(3), "s3cret", ep)
	if !eventually(wait, func() bool { return right.established() == 1 }) {
		t.Fatal("client with the password never got a session")
	}
	time.Sleep(3 * time.Second) // a few connect retries
	if none.established() != 0 || wrong.established() != 0 {
		t.Errorf("sessions without (%d) or with a wrong (%d) password", none.established(), wrong.established())
	}
}
