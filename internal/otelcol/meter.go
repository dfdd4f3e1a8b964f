package otelcol

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// Instruments says which of the collector's own instruments (by their OpenTelemetry name,
// e.g. "otelcol_exporter_sent_spans") a MeterProvider passes on, and to what. Every other
// instrument is a no-op, so the collector's internals cost next to nothing.
type Instruments struct {
	// Counters receive every Add of the named Int64Counter with its attributes.
	Counters map[string]func(attrs attribute.Set, n int64)
	// Gauges receive every observation of the named Int64ObservableGauge, when Observe runs.
	Gauges map[string]func(attrs attribute.Set, v int64)
}

// MeterProvider is an OpenTelemetry metric.MeterProvider that forwards selected
// instruments of the collector's components to sonde's Prometheus metrics. sonde exposes
// its own metrics with client_golang; the OpenTelemetry SDK and its Prometheus exporter
// would add a second metrics stack for a handful of counters.
type MeterProvider struct {
	noop.MeterProvider
	in Instruments

	mu   sync.Mutex
	regs map[*registration]struct{}
}

var _ metric.MeterProvider = (*MeterProvider)(nil)

// NewMeterProvider returns a provider forwarding the instruments in in.
func NewMeterProvider(in Instruments) *MeterProvider {
	return &MeterProvider{in: in, regs: map[*registration]struct{}{}}
}

// Meter implements metric.MeterProvider.
func (p *MeterProvider) Meter(string, ...metric.MeterOption) metric.Meter { return &meter{p: p} }

// Observe runs the registered callbacks of observable instruments (queue sizes), so that
// the Gauges functions see current values. Call it before Prometheus collects.
func (p *MeterProvider) Observe() {
	p.mu.Lock()
	regs := make([]*registration, 0, len(p.regs))
	for r := range p.regs {
		regs = append(regs, r)
	}
	p.mu.Unlock()
	obs := &observer{p: p}
	for _, r := range regs {
		_ = r.cb(context.Background(), obs)
	}
}

type meter struct {
	noop.Meter
	p *MeterProvider
}

func (m *meter) Int64Counter(name string, _ ...metric.Int64CounterOption) (metric.Int64Counter, error) {
	if f := m.p.in.Counters[name]; f != nil {
		return &counter{f: f}, nil
	}
	return noop.Int64Counter{}, nil
}

func (m *meter) Int64ObservableGauge(name string, opts ...metric.Int64ObservableGaugeOption) (metric.Int64ObservableGauge, error) {
	g := &gauge{name: name}
	for _, cb := range metric.NewInt64ObservableGaugeConfig(opts...).Callbacks() {
		_, _ = m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
			return cb(ctx, &int64Observer{inst: g, obs: o})
		}, g)
	}
	return g, nil
}

func (m *meter) RegisterCallback(cb metric.Callback, _ ...metric.Observable) (metric.Registration, error) {
	r := &registration{p: m.p, cb: cb}
	m.p.mu.Lock()
	m.p.regs[r] = struct{}{}
	m.p.mu.Unlock()
	return r, nil
}

type counter struct {
	noop.Int64Counter
	f func(attribute.Set, int64)
}

func (c *counter) Add(_ context.Context, n int64, opts ...metric.AddOption) {
	c.f(metric.NewAddConfig(opts).Attributes(), n)
}

func (c *counter) Enabled(context.Context) bool { return true }

type gauge struct {
	noop.Int64ObservableGauge
	name string
}

type registration struct {
	noop.Registration
	p  *MeterProvider
	cb metric.Callback
}

func (r *registration) Unregister() error {
	r.p.mu.Lock()
	delete(r.p.regs, r)
	r.p.mu.Unlock()
	return nil
}

type observer struct {
	noop.Observer
	p *MeterProvider
}

func (o *observer) ObserveInt64(inst metric.Int64Observable, v int64, opts ...metric.ObserveOption) {
	g, ok := inst.(*gauge)
	if !ok {
		return
	}
	if f := o.p.in.Gauges[g.name]; f != nil {
		f(metric.NewObserveConfig(opts).Attributes(), v)
	}
}

// int64Observer adapts a metric.Observer to the Int64Observer of a gauge's own callbacks.
type int64Observer struct {
	noop.Int64Observer
	inst metric.Int64Observable
	obs  metric.Observer
}

func (o *int64Observer) Observe(v int64, opts ...metric.ObserveOption) {
	o.obs.ObserveInt64(o.inst, v, opts...)
}
