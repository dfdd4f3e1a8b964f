// Package sharding implements discovery.shard: it shares cluster-wide targets (targets
// bound to no node: kube-state-metrics, services, static targets) out over the agents of
// sonde's DaemonSet so that each is scraped by exactly one agent.
//
// Membership comes from the API server, not gossip: the members are the ready pods of the
// DaemonSet (one per node), watched through the shared informer cache. Each target goes
// to one member by rendezvous hashing over the member list, which every agent computes
// alike. When an agent goes away (its pod is deleted, or turns unready when its readiness
// probe fails) the others see it in the next watch event and take over its targets; only
// its targets move. When it returns, they move back.
package sharding

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/prometheus/common/model"

	"github.com/sondehq/sonde/discovery/kubernetes"
	"github.com/sondehq/sonde/pipeline"
)

// Registration declares discovery.shard.
var Registration = pipeline.Registration{
	Type:    "discovery.shard",
	Args:    func() pipeline.Arguments { return NewArguments() },
	Exports: []pipeline.EdgeKind{pipeline.KindTargets},
	New: func(opts pipeline.Options, args pipeline.Arguments) (pipeline.Component, error) {
		return New(opts, args, kubernetes.Shared)
	},
}

// retryInterval is how often Run retries a membership it could not set up, and polls an
// informer that has not listed yet.
const retryInterval = 200 * time.Millisecond

// Component is a running discovery.shard.
//
// Run owns everything: the view of the input targets, the membership (an informer handle)
// and the published output. Update only swaps the arguments and wakes Run.
type Component struct {
	opts    pipeline.Options
	cache   *kubernetes.Cache
	metrics *metrics

	args *pipeline.Latest[*Arguments] // Update stores, Run loads and waits on Changed
}

var (
	_ pipeline.Component = (*Component)(nil)
	_ pipeline.Updater   = (*Component)(nil)
)

// New builds a discovery.shard component that watches the members through cache; it
// starts nothing.
func New(opts pipeline.Options, args pipeline.Arguments, cache *kubernetes.Cache) (*Component, error) {
	a, err := checkArgs(args)
	if err != nil {
		return nil, err
	}
	return &Component{opts: opts, cache: cache, metrics: newMetrics(), args: pipeline.NewLatest(a)}, nil
}

func checkArgs(args pipeline.Arguments) (*Arguments, error) {
	a, ok := args.(*Arguments)
	if !ok || a == nil {
		return nil, fmt.Errorf("discovery.shard: unexpected arguments type %T", args)
	}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	if _, _, err := a.resolve(); err != nil {
		return nil, err
	}
	return a, nil
}

// Update implements pipeline.Updater.
func (c *Component) Update(args pipeline.Arguments) error {
	a, err := checkArgs(args)
	if err != nil {
		return err
	}
	c.args.Store(a)
	return nil
}

// Run implements pipeline.Component.
func (c *Component) Run(ctx context.Context) error {
	if err := c.metrics.register(c.opts.Registerer); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	defer c.metrics.unregister()
	var (
		view        pipeline.TargetsView
		viewIDs     []string
		m           *membership
		lastMembers []string
		lastSelf    = "-"
		published   pipeline.Targets
		first       = true
	)
	defer func() {
		if view != nil {
			view.Close()
		}
		if m != nil {
			m.release()
		}
	}()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()

	for {
		args := c.args.Load()
		if view == nil || !slices.Equal(viewIDs, args.Targets) {
			if view != nil {
				view.Close()
			}
			view, viewIDs = c.opts.Host.Targets(args.Targets), slices.Clone(args.Targets)
		}
		key := membershipKey{client: args.ClientArgs, namespace: args.Namespace, selector: args.Selector, pod: args.PodName}
		if m == nil || !reflect.DeepEqual(m.key, key) {
			next, err := newMembership(c.cache, args)
			if err != nil {
				c.opts.Logger.Error("cannot watch sonde's pods", "err", err)
				c.opts.Health.Set(pipeline.HealthUnhealthy, err.Error())
			} else {
				if m != nil {
					m.release()
				}
				m = next
				c.opts.Logger.Info("sharding targets over sonde's pods", "namespace", m.namespace,
					"selector", args.Selector, "pod", m.pod)
			}
		}

		var changed <-chan struct{}
		switch {
		case m == nil || !m.synced():
			// Nothing is published before the member list is known: an agent that
			// published everything (or nothing) meanwhile would double or drop targets.
			retry.Reset(retryInterval)
			if m != nil {
				changed = m.changed
			}
		default:
			changed = m.changed
			members, self := m.members()
			if !slices.Equal(members, lastMembers) || self != lastSelf {
				c.metrics.changes.Inc()
				c.opts.Logger.Info("shard members changed", "members", len(members), "self", self)
				lastMembers, lastSelf = members, self
			}
			in := view.Get()
			out := Own(in, members, self)
			c.metrics.members.Set(float64(len(members)))
			c.metrics.input.Set(float64(len(in)))
			c.metrics.owned.Set(float64(len(out)))
			if self == "" {
				c.metrics.member.Set(0)
				// Healthy: an agent whose pod is not ready yet must not hold its own
				// readiness back by reporting itself unhealthy.
				c.opts.Health.Set(pipeline.HealthHealthy, "not a ready member yet: owning no targets")
			} else {
				c.metrics.member.Set(1)
				c.opts.Health.Set(pipeline.HealthHealthy, "")
			}
			if first || !equal(out, published) {
				c.opts.PublishTargets(out)
				published, first = out, false
			}
		}

		select {
		case <-ctx.Done():
			return nil
		case <-c.args.Changed():
		case <-view.Changed():
		case <-changed:
		case <-retry.C:
		}
	}
}

// Own returns the targets of in that self owns among members, in input order; none when
// self is "" (not a member).
func Own(in pipeline.Targets, members []string, self string) pipeline.Targets {
	out := pipeline.Targets{}
	if self == "" {
		return out
	}
	for _, t := range in {
		if Owner(members, Key(t)) == self {
			out = append(out, t)
		}
	}
	return out
}

func equal(a, b pipeline.Targets) bool {
	return slices.EqualFunc(a, b, func(x, y model.LabelSet) bool { return x.Equal(y) })
}
