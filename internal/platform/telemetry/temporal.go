package telemetry

import (
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// sdkLabels are the tags of the Temporal SDK's metrics that become labels: each has a bounded
// set of values (no workflow or run ids). Other tags are dropped, and a metric without one of
// these gets "" for it, so that each metric has one label set, as Prometheus needs.
var sdkLabels = []string{"namespace", "task_queue", "workflow_type", "activity_type", "worker_type", "poller_type", "operation", "status_code"}

// Temporal returns a metrics handler for the Temporal SDK's client and worker metrics (task
// latencies, pollers, sticky cache, requests and failures), exported beside Drover's with the
// SDK's names: counters get "_total", timers become histograms in seconds.
func (m *Metrics) Temporal() client.MetricsHandler {
	return sdkHandler{vecs: &sdkVecs{reg: m.reg, counters: map[string]*prometheus.CounterVec{},
		gauges: map[string]*prometheus.GaugeVec{}, timers: map[string]*prometheus.HistogramVec{}}}
}

type sdkVecs struct {
	reg      *prometheus.Registry
	mu       sync.Mutex
	counters map[string]*prometheus.CounterVec
	gauges   map[string]*prometheus.GaugeVec
	timers   map[string]*prometheus.HistogramVec
}

type sdkHandler struct {
	vecs *sdkVecs
	tags map[string]string
}

func (h sdkHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(map[string]string, len(h.tags)+len(tags))
	for k, v := range h.tags {
		merged[k] = v
	}
	for k, v := range tags {
		merged[k] = v
	}
	return sdkHandler{vecs: h.vecs, tags: merged}
}

func (h sdkHandler) labels() prometheus.Labels {
	l := make(prometheus.Labels, len(sdkLabels))
	for _, k := range sdkLabels {
		l[k] = h.tags[k]
	}
	return l
}

func (h sdkHandler) Counter(name string) client.MetricsCounter {
	v := h.vecs
	v.mu.Lock()
	defer v.mu.Unlock()
	vec, ok := v.counters[name]
	if !ok {
		vec = prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricName(name) + "_total", Help: "Temporal SDK counter " + name + "."}, sdkLabels)
		vec = register(v.reg, vec)
		v.counters[name] = vec
	}
	return counter{vec.With(h.labels())}
}

func (h sdkHandler) Gauge(name string) client.MetricsGauge {
	v := h.vecs
	v.mu.Lock()
	defer v.mu.Unlock()
	vec, ok := v.gauges[name]
	if !ok {
		vec = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: metricName(name), Help: "Temporal SDK gauge " + name + "."}, sdkLabels)
		vec = register(v.reg, vec)
		v.gauges[name] = vec
	}
	return gauge{vec.With(h.labels())}
}

func (h sdkHandler) Timer(name string) client.MetricsTimer {
	v := h.vecs
	v.mu.Lock()
	defer v.mu.Unlock()
	vec, ok := v.timers[name]
	if !ok {
		vec = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: metricName(name) + "_seconds", Help: "Temporal SDK timer " + name + ".",
			Buckets: fastBuckets}, sdkLabels)
		vec = register(v.reg, vec)
		v.timers[name] = vec
	}
	return timer{vec.With(h.labels())}
}

// register registers c; one that cannot be (a name clash) still counts, unexported.
func register[C prometheus.Collector](reg *prometheus.Registry, c C) C {
	_ = reg.Register(c)
	return c
}

// metricName makes an SDK metric name a valid Prometheus one.
func metricName(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r == ':' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			return r
		}
		return '_'
	}, name)
}

type counter struct{ c prometheus.Counter }

func (c counter) Inc(d int64) {
	if d > 0 {
		c.c.Add(float64(d))
	}
}

type gauge struct{ g prometheus.Gauge }

func (g gauge) Update(v float64) { g.g.Set(v) }

type timer struct{ h prometheus.Observer }

func (t timer) Record(d time.Duration) { t.h.Observe(d.Seconds()) }
