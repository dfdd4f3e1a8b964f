// Package kubernetes implements discovery.kubernetes: it discovers pods, nodes, services,
// endpoints and endpointslices through the API server and publishes them as targets
// labelled exactly as Prometheus' kubernetes_sd_config labels them (__meta_kubernetes_*):
// the labels are built by Prometheus' own discoverers, run on informers from the process's
// shared cache, pipeline.Options.Kube (see internal/kube for why).
package kubernetes

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/targetgroup"

	"github.com/sondehq/sonde/internal/targets"
	"github.com/sondehq/sonde/pipeline"
)

// Registration declares discovery.kubernetes.
var Registration = pipeline.Register("discovery.kubernetes", DefaultArguments, New, pipeline.KindTargets)

// publishDelay coalesces bursts of object changes (a deployment rolling, the initial list)
// into one published snapshot.
const publishDelay = 200 * time.Millisecond

// maxInitialWait bounds how long the first snapshot of a configuration waits for the
// discoverers to go quiet after the initial list.
const maxInitialWait = 10 * time.Second

// healthCheckInterval is how often an unsynced component reports why it is not synced
// (a variable for tests).
var healthCheckInterval = 10 * time.Second

// Node name labels of the endpoints roles (Prometheus'), used by the node restriction.
const (
	endpointNodeLabel      model.LabelName = "__meta_kubernetes_endpoint_node_name"
	endpointSliceNodeLabel model.LabelName = "__meta_kubernetes_endpointslice_endpoint_node_name"
	podNodeLabel           model.LabelName = "__meta_kubernetes_pod_node_name"
)

// Component is a running discovery.kubernetes.
//
// Run owns every goroutine: the discoverers of the current discoverySet send groups to it,
// and it alone builds and publishes snapshots. Update hands new arguments over through
// c.args; Run builds the new set before releasing the old one, so informers the two share
// keep running (and keep their cache) across the change.
type Component struct {
	pipeline.TargetsPublisher

	opts    pipeline.Options
	metrics *metrics

	args *pipeline.Latest[*Arguments] // Update stores, Run loads and waits on Changed
}

var (
	_ pipeline.Component           = (*Component)(nil)
	_ pipeline.Updater[*Arguments] = (*Component)(nil)
)

// New builds a discovery.kubernetes component that takes its informers from opts.Kube; it
// starts nothing.
func New(opts pipeline.Options, args *Arguments) (*Component, error) {
	m := newMetrics()
	if err := m.register(opts.Registerer); err != nil {
		return nil, err
	}
	return &Component{opts: opts, metrics: m, args: pipeline.NewLatest(args)}, nil
}

// Update implements pipeline.Updater.
func (c *Component) Update(args *Arguments) error {
	c.args.Store(args)
	return nil
}

// Run implements pipeline.Component.
func (c *Component) Run(ctx context.Context) error {
	var (
		// ch is the current set's: a discoverer of a stopped set still holding a group
		// can never deliver it into the next set's snapshot.
		ch        chan []*targetgroup.Group
		set       *discoverySet
		args      *Arguments
		groups    map[string]*targetgroup.Group
		published pipeline.Targets
		first     = true
		armed     bool // timer runs; changes wait for it rather than extend it
		initial   bool // the set's first snapshot is still to come
		started   time.Time
		lastGroup time.Time
		timer     = time.NewTimer(time.Hour)
		health    = time.NewTicker(healthCheckInterval)
	)
	timer.Stop()
	defer health.Stop()
	defer func() {
		if set != nil {
			set.stop()
		}
	}()
	rebuild := func() {
		args = c.args.Load()
		next, err := newDiscoverySet(c.opts.Kube, args, c.opts.Logger, c.metrics.events)
		if err != nil {
			// The old set (if any) keeps running; a later Update may fix this.
			c.opts.Logger.Error("cannot start kubernetes discovery", "err", err)
			c.opts.Health.Set(pipeline.HealthUnhealthy, err.Error())
			return
		}
		if set != nil {
			set.stop()
		}
		set, groups = next, map[string]*targetgroup.Group{}
		initial, started = true, time.Now()
		c.metrics.setSet(set)
		ch = make(chan []*targetgroup.Group)
		set.start(ch)
		timer.Reset(publishDelay)
		armed = true
		c.opts.Logger.Info("kubernetes discovery started", "role", args.Role, "node", args.Node,
			"namespaces", args.Namespaces.Names, "client", args.ClientArgs.Mode())
		if args.Role == RolePod && args.Node == "" {
			c.opts.Logger.Info("watching the pods of every node (set node to watch one node's pods only)")
		}
	}
	rebuild()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.args.Changed():
			rebuild()
		case tgs := <-ch:
			for _, tg := range tgs {
				if tg == nil {
					continue
				}
				if len(tg.Targets) == 0 {
					delete(groups, tg.Source)
					continue
				}
				if args.Role == RolePod {
					MarkAnnotatedPortTarget(tg)
				}
				groups[tg.Source] = tg
			}
			lastGroup = time.Now()
			if !armed {
				timer.Reset(publishDelay)
				armed = true
			}
		case <-timer.C:
			armed = false
			// Publishing before the initial list is complete (listed, and the discoverers'
			// queues drained: quiet for publishDelay) would drop targets downstream only to
			// add them again a moment later.
			if set == nil || !set.synced() ||
				(initial && time.Since(lastGroup) < publishDelay && time.Since(started) < maxInitialWait) {
				timer.Reset(publishDelay)
				armed = true
				continue
			}
			initial = false
			out := snapshot(groups, args.Node, args.Role)
			c.metrics.targets.Set(float64(len(out)))
			if first || !targets.Equal(out, published) {
				c.Publish(out)
				c.metrics.publishes.Inc()
				published, first = out, false
			}
			c.opts.Health.Set(pipeline.HealthHealthy, "")
		case <-health.C:
			if set == nil || set.synced() {
				continue
			}
			if err := set.check(ctx); err != nil {
				c.opts.Health.Set(pipeline.HealthUnhealthy, err.Error())
			}
		}
	}
}

// snapshot flattens groups, in source order, into one snapshot. For the endpoints roles
// with a node restriction, only targets on that node are kept.
func snapshot(groups map[string]*targetgroup.Group, node string, role Role) pipeline.Targets {
	ordered := make([]*targetgroup.Group, 0, len(groups))
	for _, s := range slices.Sorted(maps.Keys(groups)) {
		ordered = append(ordered, groups[s])
	}
	out := targets.FromGroups(ordered)
	if node != "" && (role == RoleEndpoints || role == RoleEndpointSlice) {
		out = slices.DeleteFunc(out, func(ls model.LabelSet) bool { return !onNode(ls, node) })
	}
	return out
}

func onNode(ls model.LabelSet, node string) bool {
	for _, l := range []model.LabelName{endpointNodeLabel, endpointSliceNodeLabel, podNodeLabel} {
		if string(ls[l]) == node {
			return true
		}
	}
	return false
}
