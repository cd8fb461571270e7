package reflector

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves the reflector's state: GET /routes (the table as JSON), /peers (sessions),
// /subscriptions (route targets and how many peers want each), /quarantined (clients whose
// routes are refused, and why), /metrics (Prometheus) and /healthz. It is read-only: the
// reflector takes no orders over HTTP (the command binds it to loopback by default, since the
// table shows every tenant's topology).
func (r *Reflector) Handler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{r})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /routes", func(w http.ResponseWriter, req *http.Request) {
		serveJSON(w, func() (any, error) { return r.Routes(req.Context()) })
	})
	mux.HandleFunc("GET /peers", func(w http.ResponseWriter, req *http.Request) {
		serveJSON(w, func() (any, error) { return r.Peers(req.Context()) })
	})
	mux.HandleFunc("GET /subscriptions", func(w http.ResponseWriter, req *http.Request) {
		serveJSON(w, func() (any, error) { return r.Subscriptions(req.Context()) })
	})
	mux.HandleFunc("GET /quarantined", func(w http.ResponseWriter, req *http.Request) {
		serveJSON(w, func() (any, error) { return r.Quarantined(), nil })
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, req *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

func serveJSON(w http.ResponseWriter, get func() (any, error)) {
	v, err := get()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

var (
	descPaths = prometheus.NewDesc("ferrite_reflector_paths",
		"Paths in the reflector's EVPN table (one per route and announcing session).", nil, nil)
	descPeers = prometheus.NewDesc("ferrite_reflector_peers",
		"BGP sessions of the reflector, by state.", []string{"state"}, nil)
	descSubscriptions = prometheus.NewDesc("ferrite_reflector_subscriptions",
		"Route-target memberships the reflector holds from its clients.", nil, nil)
	descRefused = prometheus.NewDesc("ferrite_reflector_refused_routes_total",
		"Client routes that broke an import rule (wrong originator, default or underlay prefix).", nil, nil)
	descQuarantined = prometheus.NewDesc("ferrite_reflector_quarantined_clients",
		"Clients whose routes are refused until their session restarts.", nil, nil)
	descReceived = prometheus.NewDesc("ferrite_reflector_received_paths",
		"Paths received from a peer, per peer.", []string{"peer"}, nil)
)

// collector reads the GoBGP server at scrape time so that metrics never go stale.
type collector struct{ r *Reflector }

// Describe sends the descriptions of every metric the collector reports.
func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descPaths
	ch <- descPeers
	ch <- descSubscriptions
	ch <- descReceived
	ch <- descRefused
	ch <- descQuarantined
}

// Collect reads the current figures at scrape time.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	ctx := context.Background()
	ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(c.r.Refused()))
	ch <- prometheus.MustNewConstMetric(descQuarantined, prometheus.GaugeValue, float64(len(c.r.Quarantined())))
	if n, err := c.r.Size(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(descPaths, prometheus.GaugeValue, float64(n))
	}
	if peers, err := c.r.Peers(ctx); err == nil {
		states := map[string]int{}
		for _, p := range peers {
			states[p.State]++
			ch <- prometheus.MustNewConstMetric(descReceived, prometheus.GaugeValue, float64(p.Received), p.Address)
		}
		for s, n := range states {
			ch <- prometheus.MustNewConstMetric(descPeers, prometheus.GaugeValue, float64(n), s)
		}
	}
	if subs, err := c.r.Subscriptions(ctx); err == nil {
		total := 0
		for _, n := range subs {
			total += n
		}
		ch <- prometheus.MustNewConstMetric(descSubscriptions, prometheus.GaugeValue, float64(total))
	}
}
