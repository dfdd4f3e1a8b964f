// Package serve implements prometheus.serve: a metrics sink that keeps the latest sample
// of every series it receives and serves them in the Prometheus exposition formats, for
// when no remote-write backend is configured (curl it, or let a Prometheus federate it).
package serve

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/sondehq/sonde/pipeline"
)

// Registration declares prometheus.serve.
var Registration = pipeline.Registration{
	Type:    "prometheus.serve",
	Args:    func() pipeline.Arguments { return DefaultArguments() },
	Exports: []pipeline.EdgeKind{pipeline.KindMetrics},
	New: func(opts pipeline.Options, args pipeline.Arguments) (pipeline.Component, error) {
		a, ok := args.(*Arguments)
		if !ok {
			return nil, fmt.Errorf("prometheus.serve: unexpected arguments type %T", args)
		}
		return New(opts, a)
	},
}

// maxRequestsInFlight bounds concurrent expositions: each one copies the whole store.
const maxRequestsInFlight = 4

// Component is the sink.
type Component struct {
	opts       pipeline.Options
	store      *store
	app        *appendable
	metrics    *metrics
	staleAfter atomic.Int64  // nanoseconds
	updated    chan struct{} // wakes the expiry loop after Update
	inFlight   chan struct{} // semaphore for expositions
}

var (
	_ pipeline.Component       = (*Component)(nil)
	_ pipeline.Updater         = (*Component)(nil)
	_ pipeline.MetricsReceiver = (*Component)(nil)
	_ pipeline.HTTPProvider    = (*Component)(nil)
)

// New returns the sink; it accepts samples at once, before Run.
func New(opts pipeline.Options, args *Arguments) (*Component, error) {
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("prometheus.serve: register metrics: %w", err)
	}
	s := newStore(args.MaxSeries)
	c := &Component{
		opts:     opts,
		store:    s,
		app:      newAppendable(s, m, opts.Logger),
		metrics:  m,
		updated:  make(chan struct{}, 1),
		inFlight: make(chan struct{}, maxRequestsInFlight),
	}
	c.staleAfter.Store(int64(args.StaleAfter))
	return c, nil
}

// Appendable implements pipeline.MetricsReceiver.
func (c *Component) Appendable() pipeline.Appendable { return c.app }

// Run forgets expired series until ctx ends.
func (c *Component) Run(ctx context.Context) error {
	if c.opts.Health != nil {
		c.opts.Health.Set(pipeline.HealthHealthy, "")
	}
	for {
		timer := time.NewTimer(sweepInterval(time.Duration(c.staleAfter.Load())))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-c.updated:
			timer.Stop()
		case <-timer.C:
			c.expire()
		}
	}
}

// sweepInterval is how often expired series are removed: a quarter of stale_after, at
// least a second and at most a minute. Between sweeps, expired series are already left
// out of the exposition.
func sweepInterval(staleAfter time.Duration) time.Duration {
	return min(max(staleAfter/4, time.Second), time.Minute)
}

func (c *Component) expire() {
	cutoff := time.Now().Add(-time.Duration(c.staleAfter.Load())).UnixMilli()
	n, left := c.store.expire(cutoff)
	c.metrics.removedExpired.Add(float64(n))
	c.metrics.series.Set(float64(left))
	if left < c.store.limit() {
		c.app.full.Store(false)
	}
}

// Update applies new bounds. A lower max_series refuses new series only; kept ones stay
// until they expire.
func (c *Component) Update(args pipeline.Arguments) error {
	a, ok := args.(*Arguments)
	if !ok {
		return fmt.Errorf("prometheus.serve: unexpected arguments type %T", args)
	}
	c.store.setMaxSeries(a.MaxSeries)
	c.staleAfter.Store(int64(a.StaleAfter))
	select {
	case c.updated <- struct{}{}:
	default:
	}
	return nil
}

// Handler serves the kept samples at "metrics" (relative to Options.HTTPPath).
func (c *Component) Handler() http.Handler { return http.HandlerFunc(c.serveHTTP) }

func (c *Component) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.TrimPrefix(r.URL.Path, "/") != "metrics" {
		http.NotFound(w, r)
		return
	}
	select {
	case c.inFlight <- struct{}{}:
		defer func() { <-c.inFlight }()
	default:
		http.Error(w, "too many concurrent requests, try again later", http.StatusServiceUnavailable)
		return
	}
	cutoff := time.Now().Add(-time.Duration(c.staleAfter.Load())).UnixMilli()
	samples := c.store.snapshot(cutoff)

	format := expfmt.NegotiateIncludingOpenMetrics(r.Header)
	w.Header().Set("Content-Type", string(format))
	var out io.Writer = w
	if acceptsGzip(r) {
		w.Header().Set("Content-Encoding", "gzip")
		gz := gzip.NewWriter(w)
		defer gz.Close()
		out = gz
	}
	if err := writeExposition(out, format, samples); err != nil {
		// Headers are sent; most likely the client went away.
		c.opts.Logger.Debug("writing the exposition failed", "err", err)
	}
}

func acceptsGzip(r *http.Request) bool {
	for part := range strings.SplitSeq(r.Header.Get("Accept-Encoding"), ",") {
		enc, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if enc == "gzip" {
			return true
		}
	}
	return false
}
