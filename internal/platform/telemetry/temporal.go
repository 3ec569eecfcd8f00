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
	vec := lookup(h.vecs, h.vecs.counters, name, func() *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricName(name) + "_total", Help: "Temporal SDK counter " + name + "."}, sdkLabels)
	})
	return counter{vec.With(h.labels())}
}

func (h sdkHandler) Gauge(name string) client.MetricsGauge {
	vec := lookup(h.vecs, h.vecs.gauges, name, func() *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: metricName(name), Help: "Temporal SDK gauge " + name + "."}, sdkLabels)
	})
	return gauge{vec.With(h.labels())}
}

func (h sdkHandler) Timer(name string) client.MetricsTimer {
	vec := lookup(h.vecs, h.vecs.timers, name, func() *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: metricName(name) + "_seconds", Help: "Temporal SDK timer " + name + ".",
			Buckets: fastBuckets}, sdkLabels)
	})
	return timer{vec.With(h.labels())}
}

// lookup returns the metric vector of name, made and registered on first use. One that cannot
// be registered (a name clash) still counts, unexported.
func lookup[V prometheus.Collector](v *sdkVecs, byName map[string]V, name string, newVec func() V) V {
	v.mu.Lock()
	defer v.mu.Unlock()
	vec, ok := byName[name]
	if !ok {
		vec = newVec()
		_ = v.reg.Register(vec)
		byName[name] = vec
	}
	return vec
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
