// Package gpu implements prometheus.exporter.gpu: NVIDIA GPU metrics read through NVML,
// exposed with dcgm-exporter's metric names, labels, types and help texts, and labelled
// with the pod, namespace and container holding each GPU (kubelet pod-resources API).
//
// One NVML pass runs per collect_interval on the component's own goroutine; scrapes are
// served from the result of the last pass and never call NVML. On a node without a
// driver or GPU the component reports "unavailable", publishes no target, and checks
// again every recheck_interval.
package gpu

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/sondehq/sonde/components/prometheus/exporter/gpu/nvml"
	"github.com/sondehq/sonde/components/prometheus/internal/inprocess"
	"github.com/sondehq/sonde/pipeline"
)

// Type is the component type name.
const Type = "prometheus.exporter.gpu"

// Registration declares prometheus.exporter.gpu.
var Registration = pipeline.Register(Type, DefaultArguments, New, pipeline.KindTargets)

// maxRequestsInFlight bounds concurrent scrapes of the cached exposition.
const maxRequestsInFlight = 10

// Component exports GPU metrics.
type Component struct {
	pipeline.TargetsPublisher
	opts    pipeline.Options
	newLib  func(libraryPath string) nvml.Library
	m       *metrics
	handler http.Handler
	cfg     *pipeline.Latest[config] // Update stores, Run loads and waits on Changed

	snap    atomic.Pointer[[]*dto.MetricFamily] // the last pass's exposition, read-only
	running atomic.Bool
}

// config is Arguments resolved: the counter list read.
type config struct {
	args    Arguments
	specs   []CounterSpec
	unknown []string // counters_file fields sonde does not implement
	version int
}

var (
	_ pipeline.Component           = (*Component)(nil)
	_ pipeline.Updater[*Arguments] = (*Component)(nil)
	_ pipeline.HTTPProvider        = (*Component)(nil)
)

// New returns a component on the real NVML library; nothing is loaded until Run.
func New(opts pipeline.Options, args *Arguments) (*Component, error) {
	return newComponent(opts, args, nvml.New)
}

func newComponent(opts pipeline.Options, args *Arguments, newLib func(string) nvml.Library) (*Component, error) {
	cfg, err := resolve(args, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Type, err)
	}
	reg := opts.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	c := &Component{opts: opts, newLib: newLib, m: m, cfg: pipeline.NewLatest(cfg)}
	c.handler = inprocess.Exposition(prometheus.GathererFunc(c.gather), opts.Logger, maxRequestsInFlight)
	c.warnUnknown(cfg)
	return c, nil
}

func resolve(a *Arguments, version int) (config, error) {
	specs, unknown, err := a.counters()
	if err != nil {
		return config{}, err
	}
	return config{args: *a, specs: specs, unknown: unknown, version: version}, nil
}

func (c *Component) warnUnknown(cfg config) {
	if len(cfg.unknown) > 0 {
		c.opts.Logger.Warn("counters_file names fields sonde does not implement; they are skipped",
			"file", cfg.args.CountersFile, "fields", strings.Join(cfg.unknown, ","))
	}
}

// Update applies new arguments. They take effect at the next collection; a new
// library_path, or arguments given while NVML is unavailable, are tried at once.
func (c *Component) Update(a *Arguments) error {
	cfg, err := resolve(a, c.config().version+1)
	if err != nil {
		return fmt.Errorf("%s: %w", Type, err)
	}
	c.cfg.Store(cfg)
	c.warnUnknown(cfg)
	return nil
}

// config returns the newest resolved arguments.
func (c *Component) config() config { return c.cfg.Load() }

// Run collects until ctx ends; it owns the NVML session and the pod-resources client.
func (c *Component) Run(ctx context.Context) error {
	r := &runner{c: c}
	c.running.Store(true)
	defer func() {
		r.close()
		c.snap.Store(nil)
		c.running.Store(false)
	}()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.cfg.Changed():
			if d, now := r.applyUpdate(c.config()); now {
				timer.Reset(0)
			} else if d > 0 {
				timer.Reset(d)
			}
			continue
		case <-timer.C:
		}
		timer.Reset(r.step(ctx, c.config()))
	}
}

// gather serves the last pass's families to promhttp.
func (c *Component) gather() ([]*dto.MetricFamily, error) {
	if p := c.snap.Load(); p != nil {
		return *p, nil
	}
	return nil, nil
}

// Handler serves the exposition at "metrics" (relative to Options.HTTPPath).
func (c *Component) Handler() http.Handler {
	return inprocess.Handler(Type, func(w http.ResponseWriter, r *http.Request) bool {
		if !c.running.Load() {
			return false
		}
		c.handler.ServeHTTP(w, r)
		return true
	})
}

func (c *Component) setHealth(state pipeline.HealthState, msg string) {
	if c.opts.Health != nil {
		c.opts.Health.Set(state, msg)
	}
}

// publish exports the one target pointing at this component's exposition, or none.
func (c *Component) publish(a *Arguments, on bool) {
	if !on {
		c.Publish(nil)
		return
	}
	c.Publish(inprocess.Target(c.opts.ServerAddr, c.opts.HTTPPath+inprocess.MetricsPath, a.Job, a.hostname()))
}
