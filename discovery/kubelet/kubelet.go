// Package kubelet implements discovery.kubelet: the pods of this node, read from the
// kubelet's own /pods endpoint instead of the API server (no API server load at all, for
// clusters where even node-scoped watches are too many), labelled as Prometheus' pod role
// labels them (__meta_kubernetes_pod_*).
package kubelet

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	config_util "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"

	"github.com/sondehq/sonde/pipeline"
)

// Registration declares discovery.kubelet.
var Registration = pipeline.Registration{
	Type:    "discovery.kubelet",
	Args:    func() pipeline.Arguments { return NewArguments() },
	Exports: []pipeline.EdgeKind{pipeline.KindTargets},
	New: func(opts pipeline.Options, args pipeline.Arguments) (pipeline.Component, error) {
		return New(opts, args)
	},
}

// maxResponseBytes bounds one /pods response: a node runs at most a few hundred pods.
const maxResponseBytes = 64 << 20

// Component is a running discovery.kubelet.
//
// Run owns the only goroutine: it reads /pods every refresh interval and publishes the
// snapshot when it changed. Update swaps the arguments and HTTP client under mu and wakes
// Run, which reads at once with them.
type Component struct {
	opts    pipeline.Options
	metrics *metrics

	mu     sync.Mutex
	args   *Arguments   // guarded by mu; replaced, never modified
	client *http.Client // guarded by mu; built from args

	updated chan struct{}
}

var (
	_ pipeline.Component = (*Component)(nil)
	_ pipeline.Updater   = (*Component)(nil)
)

// New builds a discovery.kubelet component; missing token or CA files fail here.
func New(opts pipeline.Options, args pipeline.Arguments) (*Component, error) {
	a, client, err := prepare(args)
	if err != nil {
		return nil, err
	}
	return &Component{opts: opts, metrics: newMetrics(), args: a, client: client, updated: make(chan struct{}, 1)}, nil
}

func prepare(args pipeline.Arguments) (*Arguments, *http.Client, error) {
	a, ok := args.(*Arguments)
	if !ok || a == nil {
		return nil, nil, fmt.Errorf("discovery.kubelet: unexpected arguments type %T", args)
	}
	if err := a.Validate(); err != nil {
		return nil, nil, err
	}
	client, err := config_util.NewClientFromConfig(a.HTTPClientConfig, "discovery_kubelet")
	if err != nil {
		return nil, nil, pipeline.Field("tls_config", "%w", err)
	}
	return a, client, nil
}

// Update implements pipeline.Updater.
func (c *Component) Update(args pipeline.Arguments) error {
	a, client, err := prepare(args)
	if err != nil {
		return err
	}
	c.mu.Lock()
	old := c.client
	c.args, c.client = a, client
	c.mu.Unlock()
	old.CloseIdleConnections()
	select {
	case c.updated <- struct{}{}:
	default:
	}
	return nil
}

// Run implements pipeline.Component.
func (c *Component) Run(ctx context.Context) error {
	if err := c.metrics.register(c.opts.Registerer); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	defer c.metrics.unregister()
	defer func() {
		c.mu.Lock()
		c.client.CloseIdleConnections()
		c.mu.Unlock()
	}()
	var (
		published pipeline.Targets
		first     = true
		timer     = time.NewTimer(0)
	)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.updated:
		case <-timer.C:
		}
		c.mu.Lock()
		args, client := c.args, c.client
		c.mu.Unlock()
		out, err := c.refresh(ctx, args, client)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			// Keep the previous targets: a kubelet restarting must not make every pod
			// target vanish and come back.
			c.metrics.failures.Inc()
			c.opts.Logger.Warn("cannot read the kubelet's pods", "url", args.URL.Redacted(), "err", err)
			c.opts.Health.Set(pipeline.HealthUnhealthy, err.Error())
		default:
			c.opts.Health.Set(pipeline.HealthHealthy, "")
			c.metrics.targets.Set(float64(len(out)))
			if first || !equal(out, published) {
				c.opts.PublishTargets(out)
				published, first = out, false
			}
		}
		timer.Reset(time.Duration(args.RefreshInterval))
	}
}

// refresh reads /pods and builds the snapshot.
func (c *Component) refresh(ctx context.Context, args *Arguments, client *http.Client) (pipeline.Targets, error) {
	c.metrics.refreshes.Inc()
	start := time.Now()
	defer func() { c.metrics.duration.Observe(time.Since(start).Seconds()) }()
	timeout := min(max(time.Duration(args.RefreshInterval), 10*time.Second), time.Minute)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	u := *args.URL.URL
	u.Path = strings.TrimSuffix(u.Path, "/") + "/pods"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("GET %s: %s", u.Redacted(), resp.Status)
	}
	var pods corev1.PodList
	body := io.LimitReader(resp.Body, maxResponseBytes+1)
	if err := json.NewDecoder(body).Decode(&pods); err != nil {
		return nil, fmt.Errorf("decode /pods: %w", err)
	}
	if n, _ := io.Copy(io.Discard, body); n > 0 {
		return nil, fmt.Errorf("/pods response larger than %d bytes", maxResponseBytes)
	}
	return c.targets(pods.Items, args.Namespaces), nil
}

// targets builds the snapshot of pods, in namespace/name order.
func (c *Component) targets(pods []corev1.Pod, namespaces []string) pipeline.Targets {
	slices.SortFunc(pods, func(a, b corev1.Pod) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	var out pipeline.Targets
	for i := range pods {
		p := &pods[i]
		if p.Namespace == "" || p.Name == "" {
			c.metrics.dropped.WithLabelValues("invalid").Inc()
			continue
		}
		if len(namespaces) > 0 && !slices.Contains(namespaces, p.Namespace) {
			continue
		}
		g := podGroup(p)
		for _, t := range g.Targets {
			ls := make(model.LabelSet, len(g.Labels)+len(t))
			for k, v := range g.Labels {
				ls[k] = v
			}
			for k, v := range t {
				ls[k] = v
			}
			out = append(out, ls)
		}
	}
	return out
}

func equal(a, b pipeline.Targets) bool {
	return slices.EqualFunc(a, b, func(x, y model.LabelSet) bool { return x.Equal(y) })
}
