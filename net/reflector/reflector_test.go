package reflector_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ferrite-dev/ferrite/net/reflector"
	"github.com/ferrite-dev/ferrite/net/route"
)

const wait = 20 * time.Second

func get(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s %v", url, resp.StatusCode, b, err)
	}
	return b
}

func TestTableOverHTTP(t *testing.T) {
	port := freePort(t)
	rr := startRR(t, rrConfig(1, port))
	ep := netip.AddrPortFrom(rrAddr(1), uint16(port))
	for id := 1; id <= 2; id++ {
		sp := startSpeaker(t, clientAddr(id), "", ep)
		sp.subscribe(t, 42)
		sp.announce(t, hostRoute(42, netip.AddrFrom4([4]byte{10, 0, 0, byte(id)}).String()+"/32", sp.addr), sp.addr)
	}
	srv := httptest.NewServer(rr.Handler())
	defer srv.Close()

	var entries []reflector.Entry
	ok := eventually(wait, func() bool {
		entries = nil
		_ = json.Unmarshal(get(t, srv.URL+"/routes"), &entries)
		return len(entries) == 2
	})
	if !ok {
		t.Fatalf("table: %+v", entries)
	}
	for _, e := range entries {
		if e.Route.VNI != 42 || e.Originator != e.Route.NextHop || e.Error != "" || e.RouterMAC != route.RouterMAC(e.Route.NextHop).String() {
			t.Errorf("unexpected entry %+v", e)
		}
	}
	var subs map[string]int
	if err := json.Unmarshal(get(t, srv.URL+"/subscriptions"), &subs); err != nil {
		t.Fatal(err)
	}
	if len(subs) != 1 {
		t.Errorf("subscriptions: %v, want one route target with two members", subs)
	}
	for rt, n := range subs {
		if !strings.Contains(rt, "65000:42") || n != 2 {
			t.Errorf("subscription %s has %d members", rt, n)
		}
	}
	metrics := string(get(t, srv.URL+"/metrics"))
	for _, want := range []string{"ferrite_reflector_paths 2", `ferrite_reflector_peers{state="ESTABLISHED"} 2`,
		"ferrite_reflector_subscriptions 2", "ferrite_reflector_quarantined_clients 0"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q:\n%s", want, metrics)
		}
	}
	resp, err := http.Post(srv.URL+"/routes", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /routes: %s, want 405 (read-only)", resp.Status)
	}
}

func TestConfigErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := reflector.Start(ctx, reflector.Config{RouterID: netip.MustParseAddr("::1")}); err == nil {
		t.Error("IPv6 router ID accepted")
	}
	if _, err := reflector.Start(ctx, reflector.Config{RouterID: netip.MustParseAddr("127.0.0.1")}); err == nil {
		t.Error("reflector without client prefixes accepted")
	}
}
