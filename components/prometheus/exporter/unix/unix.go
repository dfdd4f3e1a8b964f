// Package unix implements prometheus.exporter.unix: node_exporter's collectors run in
// process, their exposition is served under the component's HTTP path, and one scrape
// target pointing at it is published, so prometheus.scrape collects host metrics through
// sonde's own HTTP server with node_exporter's exact metric names and labels.
package unix

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sondehq/sonde/components/prometheus/internal/inprocess"
	"github.com/sondehq/sonde/pipeline"
)

// Registration declares prometheus.exporter.unix.
var Registration = pipeline.Register("prometheus.exporter.unix", DefaultArguments, New, pipeline.KindTargets)

// maxRequestsInFlight bounds concurrent gathers, like node_exporter's --web.max-requests.
const maxRequestsInFlight = 40

// Component runs node_exporter's collectors.
type Component struct {
	pipeline.TargetsPublisher
	opts     pipeline.Options
	neLogger *slog.Logger // handed to node_exporter: repeated collector failures are quietened

	// mu guards the fields below. A gather holds it for reading; building collectors holds
	// it for writing, so none of this component's collectors reads node_exporter's
	// process-wide settings while they change.
	mu      sync.RWMutex
	args    Arguments
	running bool         // Run is between start-up and the end of its context
	flags   []string     // settings the current collectors were built with
	names   []string     // collectors the current collectors were built from
	handler http.Handler // nil while no collectors are built
}

var (
	_ pipeline.Component           = (*Component)(nil)
	_ pipeline.Updater[*Arguments] = (*Component)(nil)
	_ pipeline.HTTPProvider        = (*Component)(nil)
)

// New returns a component; collectors are built when it runs.
func New(opts pipeline.Options, args *Arguments) (*Component, error) {
	return &Component{
		opts:     opts,
		neLogger: slog.New(newQuietHandler(opts.Logger.Handler())),
		args:     *args,
	}, nil
}

// Run builds the collectors, publishes the target and serves until ctx ends.
func (c *Component) Run(ctx context.Context) error {
	c.mu.Lock()
	err := c.build(c.args)
	c.running = err == nil
	args := c.args
	c.mu.Unlock()
	if err != nil {
		return err
	}
	c.publish(args)

	<-ctx.Done()

	c.mu.Lock()
	c.running = false
	c.handler = nil
	release(c)
	c.mu.Unlock()
	return nil
}

// Update applies new arguments; collectors are rebuilt when the collector list or
// node_exporter's settings change, or when the last attempt to build them failed.
func (c *Component) Update(a *Arguments) error {
	c.mu.Lock()
	c.args = *a
	var err error
	if c.running && (c.handler == nil || !slices.Equal(a.flags(), c.flags) || !slices.Equal(a.enabled(), c.names)) {
		err = c.build(*a)
	}
	running := c.running
	c.mu.Unlock()
	if running {
		c.publish(*a)
	}
	return err
}

// build (re)builds the collectors for a. The caller holds c.mu for writing. On failure the
// component stops collecting and releases node_exporter's settings.
func (c *Component) build(a Arguments) error {
	flags, names := a.flags(), a.enabled()
	nc, failed, err := acquire(c, c.opts.ID, flags, names, c.neLogger)
	if err != nil {
		c.handler = nil
		release(c)
		c.setHealth(pipeline.HealthUnhealthy, err.Error())
		return fmt.Errorf("prometheus.exporter.unix: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(buildInfo())
	if err := reg.Register(nc); err != nil {
		// A fresh registry accepts any collector; this would be a node_exporter change.
		c.handler = nil
		release(c)
		return fmt.Errorf("prometheus.exporter.unix: register node collector: %w", err)
	}
	c.flags, c.names = flags, names
	c.handler = inprocess.Exposition(reg, c.opts.Logger, maxRequestsInFlight)
	c.opts.Logger.Info("node_exporter collectors started", "collectors", len(nc.Collectors), "procfs_path", a.ProcfsPath,
		"sysfs_path", a.SysfsPath, "rootfs_path", a.RootfsPath)
	if len(failed) > 0 {
		names := slices.Sorted(maps.Keys(failed))
		c.opts.Logger.Warn("some node_exporter collectors could not start", "collectors", strings.Join(names, ","), "err", joinFailed(failed))
		c.setHealth(pipeline.HealthHealthy, "collectors not started: "+strings.Join(names, ", "))
	} else {
		c.setHealth(pipeline.HealthHealthy, "")
	}
	return nil
}

// publish exports the one target that points at this component's exposition.
func (c *Component) publish(a Arguments) {
	c.Publish(inprocess.Target(c.opts.ServerAddr, c.opts.HTTPPath+inprocess.MetricsPath, a.Job, a.Instance))
}

func (c *Component) setHealth(state pipeline.HealthState, msg string) {
	if c.opts.Health != nil {
		c.opts.Health.Set(state, msg)
	}
}

// Handler serves the exposition at "metrics" (relative to Options.HTTPPath).
func (c *Component) Handler() http.Handler {
	return inprocess.Handler("prometheus.exporter.unix", func(w http.ResponseWriter, r *http.Request) bool {
		c.mu.RLock()
		defer c.mu.RUnlock()
		if c.handler == nil {
			return false
		}
		c.handler.ServeHTTP(w, r)
		return true
	})
}
