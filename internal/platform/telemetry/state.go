package telemetry

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/pkg/api"
)

// attentionKinds are every kind of attention, so that each has a series (0 when none).
var attentionKinds = []api.Attention{api.AttentionFailed, api.AttentionWaiting, api.AttentionRetrying, api.AttentionSilent, api.AttentionOverdue}

// GaugeSource reads what is open now (the service's Gauges).
type GaugeSource func(ctx context.Context) ([]migrations.MigrationGauge, error)

// stateCollector reads the open runs and attention at scrape time, so that the figures are the
// read model's, the same in every replica.
type stateCollector struct {
	read      GaugeSource
	open      *prometheus.Desc
	attention *prometheus.Desc
	up        *prometheus.Desc
}

// State returns a collector of drover_open_runs and drover_attention, read from src at scrape.
func State(src GaugeSource) prometheus.Collector {
	return &stateCollector{
		read:      src,
		open:      prometheus.NewDesc("drover_open_runs", "Runs open now (candidates running), by migration.", []string{"migration"}, nil),
		attention: prometheus.NewDesc("drover_attention", "Running candidates that need an operator now, by migration and kind (failed, waiting, retrying, silent, overdue).", []string{"migration", "kind"}, nil),
		up:        prometheus.NewDesc("drover_store_up", "1 when the read model answered this scrape, 0 when it did not.", nil, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.open
	ch <- c.attention
	ch <- c.up
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	gs, err := c.read(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	for _, g := range gs {
		ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(g.Running), g.ID)
		for _, k := range attentionKinds {
			ch <- prometheus.MustNewConstMetric(c.attention, prometheus.GaugeValue, float64(g.Attention[k]), g.ID, string(k))
		}
	}
}
