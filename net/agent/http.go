package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/route"
)

// Handler serves the agent's local API, the stand-in for NetworkInterface objects until the
// agent watches the Ferrite API:
//
//	GET    /interfaces               local interfaces
//	PUT    /interfaces               add or replace an interface (JSON dataplane.Interface)
//	DELETE /interfaces/{name}        remove an interface
//	GET    /routes/announced         routes this agent originates
//	POST   /routes/announce          originate a route (JSON route.Route)
//	POST   /routes/withdraw          stop originating it
//	GET    /routes/learned           routes installed from other agents
//	PUT    /subscriptions/{vni}      subscribe to a VNI without a local interface
//	DELETE /subscriptions/{vni}      drop that subscription
//	GET    /subscriptions            subscribed VNIs
//	GET    /status                   sessions and counters
//	GET    /metrics, /healthz
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /interfaces", func(w http.ResponseWriter, r *http.Request) { reply(w, a.Interfaces(), nil) })
	mux.HandleFunc("PUT /interfaces", func(w http.ResponseWriter, r *http.Request) {
		var iface dataplane.Interface
		if decode(w, r, &iface) {
			reply(w, iface, a.AddInterface(r.Context(), iface))
		}
	})
	mux.HandleFunc("DELETE /interfaces/{name}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, nil, a.RemoveInterface(r.Context(), r.PathValue("name")))
	})
	mux.HandleFunc("GET /routes/announced", func(w http.ResponseWriter, r *http.Request) { reply(w, a.Announced(), nil) })
	mux.HandleFunc("GET /routes/learned", func(w http.ResponseWriter, r *http.Request) { reply(w, a.Learned(), nil) })
	mux.HandleFunc("POST /routes/announce", func(w http.ResponseWriter, r *http.Request) {
		var rt route.Route
		if decode(w, r, &rt) {
			reply(w, rt, a.Announce(r.Context(), rt))
		}
	})
	mux.HandleFunc("POST /routes/withdraw", func(w http.ResponseWriter, r *http.Request) {
		var rt route.Route
		if decode(w, r, &rt) {
			reply(w, rt, a.Withdraw(r.Context(), rt))
		}
	})
	mux.HandleFunc("GET /subscriptions", func(w http.ResponseWriter, r *http.Request) { reply(w, a.Subscriptions(), nil) })
	mux.HandleFunc("PUT /subscriptions/{vni}", func(w http.ResponseWriter, r *http.Request) {
		vni, err := strconv.ParseUint(r.PathValue("vni"), 10, 32)
		if err == nil {
			err = a.Subscribe(r.Context(), uint32(vni))
		}
		reply(w, nil, err)
	})
	mux.HandleFunc("DELETE /subscriptions/{vni}", func(w http.ResponseWriter, r *http.Request) {
		vni, err := strconv.ParseUint(r.PathValue("vni"), 10, 32)
		if err == nil {
			err = a.Unsubscribe(r.Context(), uint32(vni))
		}
		reply(w, nil, err)
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]any{"established": a.Established(r.Context()), "reflectors": len(a.cfg.Reflectors), "stats": a.Stats()}, nil)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{a})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		http.Error(w, fmt.Sprintf("bad request body: %v", err), http.StatusBadRequest)
		return false
	}
	return true
}

func reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnprocessableEntity)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if v == nil {
		v = map[string]string{"status": "ok"}
	}
	_ = json.NewEncoder(w).Encode(v)
}

var (
	descLearned     = prometheus.NewDesc("ferrite_agent_learned_routes", "Routes learned from other agents and installed.", nil, nil)
	descAnnounced   = prometheus.NewDesc("ferrite_agent_announced_routes", "Routes this agent originates.", nil, nil)
	descEstablished = prometheus.NewDesc("ferrite_agent_established_sessions", "Reflectors with a working session.", nil, nil)
	descEchoes      = prometheus.NewDesc("ferrite_agent_echoed_routes_total", "Own routes received back from a reflector (should stay 0).", nil, nil)
	descDPErrors    = prometheus.NewDesc("ferrite_agent_dataplane_errors_total", "Failed dataplane calls.", nil, nil)
)

type collector struct{ a *Agent }

// Describe sends the descriptions of every metric the collector reports.
func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLearned, descAnnounced, descEstablished, descEchoes, descDPErrors} {
		ch <- d
	}
}

// Collect reads the current figures at scrape time.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.a.Stats()
	ch <- prometheus.MustNewConstMetric(descLearned, prometheus.GaugeValue, float64(c.a.LearnedCount()))
	ch <- prometheus.MustNewConstMetric(descAnnounced, prometheus.GaugeValue, float64(len(c.a.Announced())))
	ch <- prometheus.MustNewConstMetric(descEstablished, prometheus.GaugeValue, float64(c.a.Established(context.Background())))
	ch <- prometheus.MustNewConstMetric(descEchoes, prometheus.CounterValue, float64(s.Echoes))
	ch <- prometheus.MustNewConstMetric(descDPErrors, prometheus.CounterValue, float64(s.DataplaneErrors))
}
