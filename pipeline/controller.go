package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sondehq/sonde/internal/kube"
)

// ControllerOptions configure a Controller.
type ControllerOptions struct {
	Registry   *Registry
	Logger     *slog.Logger
	Registerer prometheus.Registerer // sonde's own registry; components get a labelled view
	DataPath   string                // --storage.path; each component gets DataPath/<type>/<name>
	ServerAddr string                // host:port of the HTTP server, for in-process scrape targets
	// Kube is the process's Kubernetes client and informer cache, for every component; a
	// new one when nil.
	Kube *kube.Cache
	// ShutdownTimeout is the budget for stopping the whole graph when Run's context ends:
	// sources first, then every sink flushing in parallel; what is not delivered by then
	// stays durable for the next start. It must fit the pod's grace period.
	ShutdownTimeout time.Duration
	// StopTimeout bounds stopping the components a reload removes or restarts, together.
	StopTimeout time.Duration
}

// Controller runs a graph of components and applies new configurations to it.
//
// Lock order: applyMu (one Apply at a time) before mu (the node table). Components are
// started and stopped with mu released, so a component may call back into Host.
type Controller struct {
	opts    ControllerOptions
	applyMu sync.Mutex

	mu       sync.RWMutex
	nodes    map[string]*node
	order    []string            // start order of the running graph
	handles  map[string]*handles // per component id, kept across restarts and updates
	taps     taps                // live data: counters and watchers of the edges (tap.go)
	runCtx   context.Context
	stopping bool

	m *controllerMetrics
}

// NewController returns a controller with an empty graph.
func NewController(opts ControllerOptions) *Controller {
	if opts.ShutdownTimeout == 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	if opts.StopTimeout == 0 {
		opts.StopTimeout = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Kube == nil {
		opts.Kube = kube.NewCache(opts.Logger)
	}
	c := &Controller{
		opts:    opts,
		nodes:   map[string]*node{},
		handles: map[string]*handles{},
		runCtx:  context.Background(),
	}
	c.m = newControllerMetrics(opts.Registerer, c)
	return c
}

// DefaultShutdownTimeout is ControllerOptions.ShutdownTimeout's default: well inside
// Kubernetes' default grace period of 30 s.
const DefaultShutdownTimeout = 25 * time.Second

// Run blocks until ctx ends, then stops every component within the shutdown budget,
// sources first, sinks flushing in parallel.
func (c *Controller) Run(ctx context.Context) {
	c.mu.Lock()
	c.runCtx = context.WithoutCancel(ctx)
	c.mu.Unlock()
	<-ctx.Done()
	deadline := time.Now().Add(c.opts.ShutdownTimeout)
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	c.mu.Lock()
	c.stopping = true
	order := slices.Clone(c.order)
	c.mu.Unlock()
	c.stopGraph(order, deadline)
}

// Apply validates specs as a graph and changes the running graph to match: unchanged
// components keep running, changed ones are updated in place (Updater) or restarted, new
// ones start and removed ones stop. On a validation error nothing changes.
func (c *Controller) Apply(specs []Spec) error {
	if err := ValidateGraph(c.opts.Registry, specs); err != nil {
		return err
	}
	c.applyMu.Lock()
	defer c.applyMu.Unlock()

	c.mu.RLock()
	if c.stopping {
		c.mu.RUnlock()
		return errors.New("shutting down")
	}
	oldOrder := slices.Clone(c.order)
	wanted := make(map[string]Spec, len(specs))
	for _, s := range specs {
		wanted[s.ID] = s
	}
	var stop, update []string
	for _, id := range oldOrder {
		n := c.nodes[id]
		s, keep := wanted[id]
		switch {
		case !keep || s.Type != n.spec.Type:
			stop = append(stop, id)
		case s.Fingerprint != n.spec.Fingerprint:
			if n.reg.Update != nil {
				update = append(update, id)
			} else {
				stop = append(stop, id)
			}
		}
	}
	c.mu.RUnlock()

	c.stopGraph(stop, time.Now().Add(c.opts.StopTimeout)) // sources first

	newOrder := StartOrder(specs)
	c.mu.Lock()
	for _, id := range stop {
		delete(c.nodes, id)
		if _, still := wanted[id]; !still {
			if h := c.handles[id]; h != nil {
				h.detach()
			}
			delete(c.handles, id)
		}
	}
	for _, s := range specs {
		if c.handles[s.ID] == nil {
			c.handles[s.ID] = newHandles(s.ID)
		}
	}
	c.order = newOrder
	c.mu.Unlock()
	c.taps.prune(func(id string) bool { _, ok := wanted[id]; return ok })

	var errs []error
	for _, id := range update {
		c.mu.RLock()
		n := c.nodes[id]
		c.mu.RUnlock()
		if err := n.update(wanted[id]); err != nil {
			n.logger.Warn("update in place failed; restarting", "err", err)
			c.stopGraph([]string{id}, time.Now().Add(c.opts.StopTimeout))
			c.mu.Lock()
			delete(c.nodes, id)
			c.mu.Unlock()
		}
	}
	// Start sinks first.
	for _, id := range newOrder {
		c.mu.RLock()
		_, running := c.nodes[id]
		c.mu.RUnlock()
		if running {
			continue
		}
		n, err := c.newNode(wanted[id])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.mu.Lock()
		c.nodes[id] = n
		var deps []*node
		for _, ref := range n.spec.References() {
			for _, to := range ref.IDs {
				if d := c.nodes[to]; d != nil {
					deps = append(deps, d)
				}
			}
		}
		c.mu.Unlock()
		n.start(c.runContext(), deps)
	}
	return errors.Join(errs...)
}

func (c *Controller) runContext() context.Context {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.runCtx
}

func (c *Controller) newNode(s Spec) (*node, error) {
	reg, _ := c.opts.Registry.Lookup(s.Type)
	c.mu.RLock()
	hs := c.handles[s.ID]
	c.mu.RUnlock()
	n := &node{
		spec:    s,
		reg:     reg,
		health:  NewHealth(),
		handles: hs,
		running: make(chan struct{}),
		logger:  c.opts.Logger.With("component", s.ID),
	}
	n.opts = Options{
		ID:     s.ID,
		Logger: n.logger,
		Registerer: &trackingRegisterer{next: prometheus.WrapRegistererWith(
			prometheus.Labels{"component_id": s.ID}, c.opts.Registerer)},
		DataPath:   filepath.Join(c.opts.DataPath, s.Type, s.Name),
		Health:     n.health,
		Host:       host{c: c, from: s.ID},
		ServerAddr: c.opts.ServerAddr,
		Kube:       c.opts.Kube,
		HTTPPath:   ComponentPath(s.ID),
	}
	if err := n.build(); err != nil {
		n.opts.Registerer.(*trackingRegisterer).unregisterAll()
		return nil, fmt.Errorf("%s%s: %w", s.where(""), s.ID, err)
	}
	return n, nil
}

// ComponentPath is the URL path prefix under which a component's HTTP handler is served.
func ComponentPath(id string) string { return "/api/v1/components/" + id + "/" }

// ServeComponent routes a request below ComponentPath(id) to the component's handler.
func (c *Controller) ServeComponent(w http.ResponseWriter, r *http.Request, id string) {
	c.mu.RLock()
	n := c.nodes[id]
	c.mu.RUnlock()
	if n == nil {
		http.Error(w, "no such component: "+id, http.StatusNotFound)
		return
	}
	hp, ok := n.current().(HTTPProvider)
	if !ok {
		http.Error(w, "component "+id+" serves no HTTP", http.StatusNotFound)
		return
	}
	http.StripPrefix(strings.TrimSuffix(ComponentPath(id), "/"), hp.Handler()).ServeHTTP(w, r)
}

// ComponentInfo is a snapshot of one running component.
type ComponentInfo struct {
	ID         string       `json:"id"`
	Type       string       `json:"type"`
	Health     HealthStatus `json:"health"`
	Arguments  Arguments    `json:"-"`
	References []Reference  `json:"references"`
	Exports    []EdgeKind   `json:"exports"`
	Component  Component    `json:"-"`
	// Restarts counts the times the controller restarted the component after its Run
	// failed (not restarts for a configuration change, which start a new count).
	Restarts uint64 `json:"restarts"`
	// FailedRuns counts its failed runs in a row (none lasting StableRun in between).
	FailedRuns int `json:"failed_runs"`
	// CrashLoop is the last error while the component is crash-looping (FailedRuns has
	// reached CrashLoopFailures), nil otherwise.
	CrashLoop error `json:"-"`
}

// Components returns the running components in start order.
func (c *Controller) Components() []ComponentInfo {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]ComponentInfo, 0, len(c.order))
	for _, id := range c.order {
		n := c.nodes[id]
		if n == nil {
			continue
		}
		failures, restarts, crash := n.crashLoop()
		out = append(out, ComponentInfo{
			ID: id, Type: n.spec.Type, Health: n.health.Get(), Arguments: n.spec.Args,
			References: n.spec.References(), Exports: n.reg.Exports, Component: n.current(),
			Restarts: restarts, FailedRuns: failures, CrashLoop: crash,
		})
	}
	return out
}

// Ready reports whether every component has left the starting state and none is
// crash-looping; when not, why names the components and their errors.
//
// An unhealthy component does not make the agent unready. Readiness is what Kubernetes
// routes OTLP traffic by (the node-local Service) and what discovery.shard counts agents by;
// a backend outage makes every agent's writer unhealthy at once, and failing readiness then
// would take every agent out of both together: applications' spans refused instead of
// queued, cluster targets left without an owner. Component health is reported where it is
// alerted on instead: sonde_component_health, /api/v1/components and the UI.
//
// A crash-looping component is different: its Run has failed CrashLoopFailures times in a
// row (a listener that cannot bind, a WAL that cannot open), so this pod cannot do that
// component's job whatever the backends do, and other agents can. Components do not end
// Run for a backend or API server outage (they report it in their health), so this does
// not take every agent out at once. It is ready again once the component has run for
// StableRun. Liveness (/-/healthy) never looks at either: restarting the pod would not help.
func (c *Controller) Ready() (bool, string) {
	var why []string
	for _, ci := range c.Components() {
		switch {
		case ci.CrashLoop != nil:
			why = append(why, fmt.Sprintf("%s is crash-looping (%d failed runs in a row): %v", ci.ID, ci.FailedRuns, ci.CrashLoop))
		case ci.Health.State == HealthStarting:
			why = append(why, fmt.Sprintf("%s is %s", ci.ID, ci.Health.State))
		}
	}
	if len(why) > 0 {
		return false, strings.Join(why, "; ")
	}
	return true, ""
}
