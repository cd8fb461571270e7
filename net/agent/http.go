package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/route"
)

// Handler serves the agent's read-only status; nothing in it changes the agent (the desired
// state comes from SetLocal only). It shows every tenant's routes on this host, so serve it on
// loopback only, with NewHTTPServer's limits:
//
//	GET /status       sessions, synchronisation and counters
//	GET /interfaces   local interfaces with their device and announcement state
//	GET /routes       routes announced by this agent and routes learned from others
//	GET /metrics, /healthz
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		synced := a.sync.done
		a.mu.Unlock()
		reply(w, map[string]any{"established": a.Established(r.Context()), "reflectors": len(a.cfg.Reflectors),
			"synced": synced, "subscriptions": a.Subscriptions(), "stats": a.Stats()})
	})
	mux.HandleFunc("GET /interfaces", func(w http.ResponseWriter, r *http.Request) {
		type status struct {
			dataplane.Interface
			Present   bool `json:"present"`
			Announced bool `json:"announced"`
		}
		var out []status
		for _, iface := range a.Interfaces() {
			present, announced := a.InterfaceState(iface.Name)
			out = append(out, status{iface, present, announced})
		}
		reply(w, out)
	})
	mux.HandleFunc("GET /routes", func(w http.ResponseWriter, r *http.Request) {
		reply(w, struct {
			Announced []route.Route `json:"announced"`
			Learned   []route.Route `json:"learned"`
		}{a.Announced(), a.Learned()})
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{a})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

// NewHTTPServer returns a server for h on addr, which must be a loopback address: the status
// is for the host's own tools and metrics scraper. Requests carry no bodies; the limits keep a
// slow or large request from holding the agent's resources.
func NewHTTPServer(addr netip.AddrPort, h http.Handler) (*http.Server, error) {
	if !addr.Addr().IsLoopback() {
		return nil, fmt.Errorf("agent status address %s: want a loopback address", addr)
	}
	return &http.Server{
		Addr: addr.String(),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Body = http.MaxBytesReader(w, r.Body, 0)
			h.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
	}, nil
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

var (
	descLearned     = prometheus.NewDesc("ferrite_agent_learned_routes", "Routes learned from other agents.", nil, nil)
	descInstalled   = prometheus.NewDesc("ferrite_agent_installed_routes", "Learned routes in the last successful dataplane Apply.", nil, nil)
	descAnnounced   = prometheus.NewDesc("ferrite_agent_announced_routes", "Routes this agent originates.", nil, nil)
	descEstablished = prometheus.NewDesc("ferrite_agent_established_sessions", "Reflectors with a working session.", nil, nil)
	descApplies     = prometheus.NewDesc("ferrite_agent_dataplane_applies_total", "Dataplane Apply calls.", nil, nil)
	descDPErrors    = prometheus.NewDesc("ferrite_agent_dataplane_errors_total", "Failed dataplane Apply calls (retried).", nil, nil)
	descBGPErrors   = prometheus.NewDesc("ferrite_agent_bgp_errors_total", "Failed announcements, withdrawals and membership changes (retried).", nil, nil)
)

type collector struct{ a *Agent }

// Describe sends the descriptions of every metric the collector reports.
func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLearned, descInstalled, descAnnounced, descEstablished, descApplies, descDPErrors, descBGPErrors} {
		ch <- d
	}
}

// Collect reads the current figures at scrape time.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.a.Stats()
	ch <- prometheus.MustNewConstMetric(descLearned, prometheus.GaugeValue, float64(c.a.LearnedCount()))
	ch <- prometheus.MustNewConstMetric(descInstalled, prometheus.GaugeValue, float64(s.Installed))
	ch <- prometheus.MustNewConstMetric(descAnnounced, prometheus.GaugeValue, float64(len(c.a.Announced())))
	ch <- prometheus.MustNewConstMetric(descEstablished, prometheus.GaugeValue, float64(c.a.Established(context.Background())))
	ch <- prometheus.MustNewConstMetric(descApplies, prometheus.CounterValue, float64(s.Applies))
	ch <- prometheus.MustNewConstMetric(descDPErrors, prometheus.CounterValue, float64(s.DataplaneErrors))
	ch <- prometheus.MustNewConstMetric(descBGPErrors, prometheus.CounterValue, float64(s.BGPErrors))
}
