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
	"time"

	config_util "github.com/prometheus/common/config"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	corev1 "k8s.io/api/core/v1"

	"github.com/sondehq/sonde/internal/targets"
	"github.com/sondehq/sonde/pipeline"
)

// Registration declares discovery.kubelet.
var Registration = pipeline.Register("discovery.kubelet", DefaultArguments, New, pipeline.KindTargets)

// maxResponseBytes bounds one /pods response: a node runs at most a few hundred pods.
const maxResponseBytes = 64 << 20

// Component is a running discovery.kubelet.
//
// Run owns the only goroutine: it reads /pods every refresh interval and publishes the
// snapshot when it changed. Update stores new settings (arguments and the HTTP client built
// from them) in c.settings and Run reads at once with them.
type Component struct {
	pipeline.TargetsPublisher

	opts    pipeline.Options
	metrics *metrics

	settings *pipeline.Latest[settings] // Update stores, Run loads and waits on Changed
}

// settings are one configuration at work: the arguments and the HTTP client built from
// them, replaced together.
type settings struct {
	args   *Arguments
	client *http.Client
}

var (
	_ pipeline.Component           = (*Component)(nil)
	_ pipeline.Updater[*Arguments] = (*Component)(nil)
)

// New builds a discovery.kubelet component; missing token or CA files fail here.
func New(opts pipeline.Options, args *Arguments) (*Component, error) {
	s, err := newSettings(args)
	if err != nil {
		return nil, err
	}
	m := newMetrics()
	if err := m.register(opts.Registerer); err != nil {
		return nil, err
	}
	return &Component{opts: opts, metrics: m, settings: pipeline.NewLatest(s)}, nil
}

func newSettings(a *Arguments) (settings, error) {
	client, err := config_util.NewClientFromConfig(a.HTTPClientConfig, "discovery_kubelet")
	if err != nil {
		return settings{}, pipeline.Field("tls_config", "%w", err)
	}
	return settings{args: a, client: client}, nil
}

// Update implements pipeline.Updater.
func (c *Component) Update(args *Arguments) error {
	s, err := newSettings(args)
	if err != nil {
		return err
	}
	c.settings.Store(s)
	return nil
}

// Run implements pipeline.Component.
func (c *Component) Run(ctx context.Context) error {
	cur := c.settings.Load()
	defer func() { cur.client.CloseIdleConnections() }()
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
		case <-c.settings.Changed():
			cur.client.CloseIdleConnections()
			cur = c.settings.Load()
		case <-timer.C:
		}
		args := cur.args
		out, err := c.refresh(ctx, args, cur.client)
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
			if first || !targets.Equal(out, published) {
				c.Publish(out)
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
	groups := make([]*targetgroup.Group, 0, len(pods))
	for i := range pods {
		p := &pods[i]
		if p.Namespace == "" || p.Name == "" {
			c.metrics.dropped.WithLabelValues("invalid").Inc()
			continue
		}
		if len(namespaces) > 0 && !slices.Contains(namespaces, p.Namespace) {
			continue
		}
		groups = append(groups, podGroup(p))
	}
	return targets.FromGroups(groups)
}
