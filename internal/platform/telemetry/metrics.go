// Package telemetry exports Drover's Prometheus metrics: what runs and steps do (by migration,
// step and outcome), how dispatches to migrators and notifications to webhooks go, how long HTTP requests, store and Temporal
// calls take, what is open and needs attention now, and the Temporal SDK's own worker metrics.
// Labels are bounded: migration ids and step names (which migrators announce), never a
// candidate id.
package telemetry

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/drover-dev/drover/pkg/api"
)

// Metrics is Drover's metric registry and its instruments.
type Metrics struct {
	reg *prometheus.Registry

	runsStarted   *prometheus.CounterVec
	runsFinished  *prometheus.CounterVec
	stepsFinished *prometheus.CounterVec
	stepDuration  *prometheus.HistogramVec
	stepWait      *prometheus.HistogramVec
	dispatches    *prometheus.CounterVec
	dispatchTime  *prometheus.HistogramVec
	deliveries    *prometheus.CounterVec
	liveStreams   prometheus.Gauge
	livePublished *prometheus.CounterVec
	httpRequests  *prometheus.CounterVec
	httpDuration  *prometheus.HistogramVec
	storeDuration *prometheus.HistogramVec
	storeErrors   *prometheus.CounterVec
	engineCalls   *prometheus.HistogramVec
}

// Buckets for durations that range from milliseconds (a store read) to a minute.
var fastBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// Buckets for step durations: seconds (an automated step) to days (a review).
var stepBuckets = []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400}

// New returns the metrics, registered with a registry of their own (with the Go runtime's and
// the process's collectors).
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		runsStarted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "drover_runs_started_total",
			Help: "Runs started, by migration."}, []string{"migration"}),
		runsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "drover_runs_finished_total",
			Help: "Runs that ended, by migration and status (completed, cancelled, failed)."}, []string{"migration", "status"}),
		stepsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "drover_steps_finished_total",
			Help: "Steps that reached an outcome (succeeded, merged, failed), by migration and step."}, []string{"migration", "step", "outcome"}),
		stepDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "drover_step_duration_seconds",
			Help: "A step's time from its dispatch to its outcome, by migration, step and outcome.", Buckets: stepBuckets},
			[]string{"migration", "step", "outcome"}),
		stepWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "drover_step_wait_seconds",
			Help:    "Of a finished step's time, how long it waited on the migrator (dispatch to its first answer) and on a person or a pull request (pending until the outcome).",
			Buckets: stepBuckets}, []string{"migration", "step", "on"}),
		dispatches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "drover_dispatch_attempts_total",
			Help: "Dispatches and cancel notices sent to migrators, by migration, kind and result (ok, rejected, failed, timeout, unreachable, refused)."},
			[]string{"migration", "kind", "result"}),
		dispatchTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "drover_dispatch_duration_seconds",
			Help: "How long a migrator took to answer a dispatch, by migration.", Buckets: fastBuckets}, []string{"migration"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "drover_notification_attempts_total",
			Help: "Attempts to deliver a notification to a webhook, by kind and result (delivered; retrying: it failed and is tried again; failed: Drover gave up)."},
			[]string{"kind", "result"}),
		liveStreams: prometheus.NewGauge(prometheus.GaugeOpts{Name: "drover_live_streams",
			Help: "Live event streams (GET /events and /migrations/{id}/events) open on this replica."}),
		livePublished: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "drover_live_events_published_total",
			Help: "Live events this replica published to the change feed, by result (ok, failed: clients see that change on their next refresh)."},
			[]string{"result"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "drover_http_requests_total",
			Help: "API requests, by route, method and status code."}, []string{"route", "method", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "drover_http_request_duration_seconds",
			Help: "API request latency by route and method (POST /event/:runId is the migrators' callback latency).", Buckets: fastBuckets},
			[]string{"route", "method"}),
		storeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "drover_store_operation_duration_seconds",
			Help: "Store (Redis or SQLite) operation latency, by operation.", Buckets: fastBuckets}, []string{"operation"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "drover_store_operation_errors_total",
			Help: "Store operations that failed, by operation."}, []string{"operation"}),
		engineCalls: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "drover_temporal_call_duration_seconds",
			Help: "Latency of Drover's calls to Temporal (start, cancel, signal), by operation and result.", Buckets: fastBuckets},
			[]string{"operation", "result"}),
	}
	// Every kind and result is known: they start at 0, so that a dashboard shows them before the first.
	for _, k := range []api.NotificationKind{api.NotificationKindStepFailed, api.NotificationKindStepWaiting, api.NotificationKindStepSilent,
		api.NotificationKindStepOverdue, api.NotificationKindRolloutPaused, api.NotificationKindMigrationFinished, api.NotificationKindTest} {
		for _, r := range []string{"delivered", "retrying", "failed"} {
			m.deliveries.WithLabelValues(string(k), r)
		}
	}
	m.livePublished.WithLabelValues("ok")
	m.livePublished.WithLabelValues("failed")
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.runsStarted, m.runsFinished, m.stepsFinished, m.stepDuration, m.stepWait, m.dispatches, m.dispatchTime, m.deliveries, m.liveStreams, m.livePublished,
		m.httpRequests, m.httpDuration, m.storeDuration, m.storeErrors, m.engineCalls)
	return m
}

// Register adds a collector (one that reads the current state at scrape time, say).
func (m *Metrics) Register(c prometheus.Collector) error { return m.reg.Register(c) }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// ObserveStream counts live event streams opening (+1) and closing (-1).
func (m *Metrics) ObserveStream(delta int) { m.liveStreams.Add(float64(delta)) }

// ObserveHTTP records one API request; route is the matched route template ("" for none).
func (m *Metrics) ObserveHTTP(route, method string, code int, d time.Duration) {
	if route == "" {
		route = "unmatched" // never the raw path: its values are unbounded
	}
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
	default:
		method = "other" // any token is a method to net/http
	}
	m.httpRequests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.httpDuration.WithLabelValues(route, method).Observe(d.Seconds())
}
