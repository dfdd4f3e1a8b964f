// Package prometheus implements otelcol.exporter.prometheus: it turns OTLP metrics into
// Prometheus samples with Prometheus' own OTLP translation and appends them to the
// components named in forward_to (prometheus.remote_write), so OTLP metrics reach
// Prometheus through the same write-ahead log and queue as scraped ones.
package prometheus

import (
	"context"
	"errors"
	"fmt"
	"sync"

	promclient "github.com/prometheus/client_golang/prometheus"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/storage/remote/otlptranslator/prometheusremotewrite"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/sondehq/sonde/pipeline"
)

// Registration declares otelcol.exporter.prometheus.
var Registration = pipeline.Register("otelcol.exporter.prometheus", DefaultArguments, New, pipeline.KindOTLPMetrics)

// Component is a running otelcol.exporter.prometheus.
type Component struct {
	opts    pipeline.Options
	metrics *metrics
	mc      consumer.Metrics

	mu       sync.Mutex
	next     pipeline.Appendable
	settings prometheusremotewrite.Settings

	converters sync.Pool
}

var (
	_ pipeline.Component           = (*Component)(nil)
	_ pipeline.Updater[*Arguments] = (*Component)(nil)
)

// New builds the component; it translates in the senders' calls.
func New(opts pipeline.Options, args *Arguments) (*Component, error) {
	c := &Component{opts: opts, metrics: newMetrics(opts.Registerer)}
	c.converters.New = func() any { return prometheusremotewrite.NewPrometheusConverter(nil) }
	c.mc, _ = consumer.NewMetrics(c.consume)
	if err := c.Update(args); err != nil {
		return nil, err
	}
	return c, nil
}

// Update implements pipeline.Updater.
func (c *Component) Update(a *Arguments) error {
	otlp := promconfig.DefaultOTLPConfig
	otlp.PromoteResourceAttributes = a.PromoteResourceAttributes
	otlp.PromoteAllResourceAttributes = a.PromoteAllResourceAttributes
	otlp.IgnoreResourceAttributes = a.IgnoreResourceAttributes
	s := prometheusremotewrite.Settings{
		DisableTargetInfo:                    !a.IncludeTargetInfo,
		AddMetricSuffixes:                    a.AddMetricSuffixes,
		PromoteResourceAttributes:            prometheusremotewrite.NewPromoteResourceAttributes(otlp),
		KeepIdentifyingResourceAttributes:    a.KeepIdentifyingResourceAttributes,
		ConvertHistogramsToNHCB:              a.ConvertHistogramsToNHCB,
		PromoteScopeMetadata:                 a.PromoteScopeMetadata,
		LabelNameUnderscoreSanitization:      otlp.LabelNameUnderscoreSanitization,
		LabelNamePreserveMultipleUnderscores: otlp.LabelNamePreserveMultipleUnderscores,
	}
	next := c.opts.Host.Appendable(a.ForwardTo)
	c.mu.Lock()
	c.next, c.settings = next, s
	c.mu.Unlock()
	return nil
}

// consume translates and appends one request's metrics in one transaction. Metrics the
// translation refuses (delta temporality, unsupported types) are counted and skipped; the
// rest is committed. A failed commit is returned as retryable, so the sender retries.
func (c *Component) consume(ctx context.Context, md pmetric.Metrics) error {
	c.mu.Lock()
	next, settings := c.next, c.settings
	c.mu.Unlock()
	app := next.Appender(ctx)
	conv := c.converters.Get().(*prometheusremotewrite.PrometheusConverter)
	conv.Reset(appenderV2{app: app})
	annots, err := conv.FromMetrics(ctx, md, settings)
	conv.Reset(nil)
	c.converters.Put(conv)
	if err != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		_ = app.Rollback()
		return err
	}
	for category, n := range prometheusremotewrite.CountWarningsByCategory(annots) {
		c.metrics.warnings.WithLabelValues(string(category)).Add(float64(n))
	}
	if err != nil {
		c.metrics.errors.Inc()
		c.opts.Logger.Warn("some OTLP metrics could not be translated; they were skipped", "err", err)
	}
	if cerr := app.Commit(); cerr != nil {
		return fmt.Errorf("append OTLP metrics: %w", cerr)
	}
	c.metrics.points.Add(float64(md.DataPointCount()))
	return nil
}

// Run waits for ctx to end; the work happens in the senders' calls.
func (c *Component) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// Metrics implements pipeline.OTLPMetricsReceiver.
func (c *Component) Metrics() consumer.Metrics { return c.mc }

type metrics struct {
	points   promclient.Counter
	errors   promclient.Counter
	warnings *promclient.CounterVec
}

func newMetrics(reg promclient.Registerer) *metrics {
	m := &metrics{
		points: promclient.NewCounter(promclient.CounterOpts{
			Name: "sonde_otelcol_exporter_prometheus_points_total",
			Help: "OTLP metric data points translated and appended.",
		}),
		errors: promclient.NewCounter(promclient.CounterOpts{
			Name: "sonde_otelcol_exporter_prometheus_translation_errors_total",
			Help: "Requests in which some metrics could not be translated (delta temporality, unsupported types, invalid names) and were skipped.",
		}),
		warnings: promclient.NewCounterVec(promclient.CounterOpts{
			Name: "sonde_otelcol_exporter_prometheus_translation_warnings_total",
			Help: "Translation warnings (empty data points, label collisions…), by category.",
		}, []string{"category"}),
	}
	if reg != nil {
		reg.MustRegister(m.points, m.errors, m.warnings)
	}
	return m
}
