// Package shard implements discovery.shard: it shares cluster-wide targets (targets
// bound to no node: kube-state-metrics, services, static targets) out over the agents of
// sonde's DaemonSet so that each is scraped by exactly one agent.
//
// Membership comes from the API server, not gossip: the members are the ready pods of the
// DaemonSet (one per node), watched through the shared informer cache. Each target goes
// to one member by rendezvous hashing over the member list, which every agent computes
// alike. When an agent goes away (its pod is deleted, or turns unready when its readiness
// probe fails) the others see it in the next watch event and take over its targets; only
// its targets move. When it returns, they move back.
package shard

import (
	"context"
	"reflect"
	"slices"
	"time"

	"github.com/sondehq/sonde/internal/targets"
	"github.com/sondehq/sonde/pipeline"
)

// Registration declares discovery.shard.
var Registration = pipeline.Register("discovery.shard", DefaultArguments, New, pipeline.KindTargets)

// retryInterval is how often Run retries a membership it could not set up, and polls an
// informer that has not listed yet.
const retryInterval = 200 * time.Millisecond

// Component is a running discovery.shard.
//
// Run owns everything: the view of the input targets, the membership (an informer handle)
// and the published output. Update only swaps the arguments and wakes Run.
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

// New builds a discovery.shard component that watches the members through opts.Kube; it
// starts nothing. Arguments whose namespace or pod name cannot be resolved fail here.
func New(opts pipeline.Options, args *Arguments) (*Component, error) {
	if _, _, err := args.resolve(); err != nil {
		return nil, err
	}
	m := newMetrics()
	if err := m.register(opts.Registerer); err != nil {
		return nil, err
	}
	return &Component{opts: opts, metrics: m, args: pipeline.NewLatest(args)}, nil
}

// Update implements pipeline.Updater.
func (c *Component) Update(args *Arguments) error {
	if _, _, err := args.resolve(); err != nil {
		return err
	}
	c.args.Store(args)
	return nil
}

// Run implements pipeline.Component.
func (c *Component) Run(ctx context.Context) error {
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
			next, err := newMembership(c.opts.Kube, args)
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
			if first || !targets.Equal(out, published) {
				c.Publish(out)
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
