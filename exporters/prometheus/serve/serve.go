// Package serve implements prometheus.serve: a metrics sink that keeps the latest sample
// (float or native histogram) and exemplar of every series it receives and serves them in
// the Prometheus exposition formats, for when no remote-write backend is configured (curl
// it, or let a Prometheus federate it).
package serve

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/sondehq/sonde/pipeline"
)

// Registration declares prometheus.serve.
var Registration = pipeline.Register("prometheus.serve", DefaultArguments, New, pipeline.KindMetrics)

// maxRequestsInFlight bounds concurrent expositions: each one copies the whole store.
const maxRequestsInFlight = 4

// Component is the sink.
type Component struct {
	opts     pipeline.Options
	store    *store
	app      *appendable
	metrics  *metrics
	args     *pipeline.Latest[*Arguments] // Update stores; Run's expiry loop waits on Changed
	inFlight chan struct{}                // semaphore for expositions
}

var (
	_ pipeline.Component           = (*Component)(nil)
	_ pipeline.Updater[*Arguments] = (*Component)(nil)
	_ pipeline.MetricsReceiver     = (*Component)(nil)
	_ pipeline.HTTPProvider        = (*Component)(nil)
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
		args:     pipeline.NewLatest(args),
		inFlight: make(chan struct{}, maxRequestsInFlight),
	}
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
		timer := time.NewTimer(sweepInterval(c.staleAfter()))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-c.args.Changed():
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

// staleAfter is how long a series without samples is kept.
func (c *Component) staleAfter() time.Duration { return time.Duration(c.args.Load().StaleAfter) }

func (c *Component) expire() {
	cutoff := time.Now().Add(-c.staleAfter()).UnixMilli()
	n, left := c.store.expire(cutoff)
	c.metrics.removedExpired.Add(float64(n))
	c.metrics.series.Set(float64(left))
	if left < c.store.limit() {
		c.app.full.Store(false)
	}
}

// Update applies new bounds. A lower max_series refuses new series only; kept ones stay
// until they expire.
func (c *Component) Update(a *Arguments) error {
	c.store.setMaxSeries(a.MaxSeries)
	c.args.Store(a)
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
	cutoff := time.Now().Add(-c.staleAfter()).UnixMilli()
	samples, meta := c.store.snapshot(cutoff)

	format := expfmt.NegotiateIncludingOpenMetrics(r.Header)
	w.Header().Set("Content-Type", string(format))
	var out io.Writer = w
	if acceptsGzip(r) {
		w.Header().Set("Content-Encoding", "gzip")
		gz := gzip.NewWriter(w)
		defer gz.Close()
		out = gz
	}
	unserved, err := writeExposition(out, format, samples, meta)
	if unserved > 0 {
		c.metrics.droppedHistogram.Add(float64(unserved))
	}
	if err != nil {
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
