package monitor

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/sondehq/sonde/internal/kube"
	"github.com/sondehq/sonde/internal/targets"
	"github.com/sondehq/sonde/pipeline"
)

// Group is the API group and version of the monitors.
var Group = schema.GroupVersion{Group: "monitoring.coreos.com", Version: "v1"}

// Config is what a monitors component watches and reads.
type Config struct {
	Kind Kind
	// Targets are the ids of the components whose targets the monitors select from.
	Targets []string
	// Namespaces the monitors are read from; empty: all.
	Namespaces []string
	// Selector is a label selector on the monitor objects.
	Selector string
	Client   kube.ClientArgs
}

func (c Config) resource() (res, endpointsKey string) {
	switch c.Kind {
	case PodMonitor:
		return "podmonitors", "podMetricsEndpoints"
	case Probe:
		return "probes", ""
	}
	return "servicemonitors", "endpoints"
}

// ingressResource is what the Probes with ingress targets select from.
var ingressResource = schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"}

// publishDelay coalesces bursts of changes (the initial list, a rollout) into one snapshot.
const publishDelay = 200 * time.Millisecond

// Component reads the monitors with an informer of its own (the shared cache in
// internal/kube serves typed core objects only) and publishes the targets their
// endpoints select from its input.
//
// Run owns every goroutine. The informer's handlers only nudge Run (a buffered channel of
// one); Run reads the informer's store and the input view and is the only one to publish.
type Component struct {
	pipeline.TargetsPublisher

	opts    pipeline.Options
	metrics *metrics
	cfg     *pipeline.Latest[Config]

	mu     sync.Mutex
	status []MonitorStatus // for DebugInfo; guarded by mu
}

// MonitorStatus is what DebugInfo shows of one monitor.
type MonitorStatus struct {
	Monitor string   `json:"monitor"`
	Jobs    []string `json:"jobs,omitempty"`
	Error   string   `json:"error,omitempty"`
	Skipped []string `json:"skipped,omitempty"`
	Ignored []string `json:"ignored,omitempty"`
}

var (
	_ pipeline.Component         = (*Component)(nil)
	_ pipeline.DebugInfoProvider = (*Component)(nil)
)

// New builds a component and registers its metrics; it starts nothing.
func New(opts pipeline.Options, cfg Config) (*Component, error) {
	m := newMetrics()
	if err := m.register(opts.Registerer); err != nil {
		return nil, err
	}
	return &Component{opts: opts, metrics: m, cfg: pipeline.NewLatest(cfg)}, nil
}

// Update stores a new configuration for Run.
func (c *Component) Update(cfg Config) { c.cfg.Store(cfg) }

// DebugInfo implements pipeline.DebugInfoProvider.
func (c *Component) DebugInfo() any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.status)
}

// Run implements pipeline.Component.
func (c *Component) Run(ctx context.Context) error {
	var (
		view      pipeline.TargetsView
		viewIDs   []string
		w         *watcher
		ingresses *watcher // Probes only: while a Probe selects Ingresses
		watched   Config
		published pipeline.Targets
		first     = true
		reported  = map[string]string{} // monitor → resourceVersion whose problems were logged
		timer     = time.NewTimer(publishDelay)
		health    = time.NewTicker(10 * time.Second)
	)
	defer health.Stop()
	defer func() {
		if view != nil {
			view.Close()
		}
		if w != nil {
			w.stop()
		}
		if ingresses != nil {
			ingresses.stop()
		}
	}()
	for {
		cfg := c.cfg.Load()
		if view == nil || !slices.Equal(viewIDs, cfg.Targets) {
			if view != nil {
				view.Close()
			}
			view = c.opts.Host.Targets(cfg.Targets)
			viewIDs = slices.Clone(cfg.Targets)
		}
		if w == nil || !slices.Equal(watched.Namespaces, cfg.Namespaces) || watched.Selector != cfg.Selector ||
			!equalClient(watched.Client, cfg.Client) {
			res, _ := cfg.resource()
			next, err := startWatcher(cfg.Client, Group.WithResource(res), cfg.Namespaces, cfg.Selector)
			if err != nil {
				c.opts.Logger.Error("cannot watch monitors", "err", err)
				c.opts.Health.Set(pipeline.HealthUnhealthy, err.Error())
			} else {
				if w != nil {
					w.stop()
				}
				w, watched = next, cfg
				if ingresses != nil { // its client may have changed too
					ingresses.stop()
					ingresses = nil
				}
				c.opts.Logger.Info("watching monitors", "resource", res+"."+Group.Group, "namespaces", cfg.Namespaces, "selector", cfg.Selector)
			}
		}
		var changed, ingressesChanged <-chan struct{}
		if w != nil {
			changed = w.changed
		}
		if ingresses != nil {
			ingressesChanged = ingresses.changed
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.cfg.Changed():
			continue
		case <-view.Changed():
		case <-changed:
		case <-ingressesChanged:
		case <-timer.C:
			if w == nil || !w.synced() {
				timer.Reset(publishDelay)
				continue
			}
			in := view.Get()
			if ingresses != nil {
				var bad int
				in, bad = IngressTargets(ingresses.list())
				c.metrics.badIngresses.Set(float64(bad))
			}
			out, needIngresses := c.compute(cfg, w, in, reported)
			switch {
			case needIngresses && ingresses == nil:
				var err error
				if ingresses, err = startWatcher(cfg.Client, ingressResource, nil, ""); err != nil {
					c.opts.Logger.Error("cannot watch ingresses", "err", err)
				} else {
					c.opts.Logger.Info("watching ingresses for probes")
				}
			case !needIngresses && ingresses != nil:
				ingresses.stop()
				ingresses = nil
			}
			if first || !targets.Equal(out, published) {
				c.Publish(out)
				c.metrics.publishes.Inc()
				published, first = out, false
			}
			c.opts.Health.Set(pipeline.HealthHealthy, "")
			continue
		case <-health.C:
			if w != nil && !w.synced() {
				if err := w.lastError(); err != nil {
					c.opts.Health.Set(pipeline.HealthUnhealthy, "cannot list monitors (is the Prometheus Operator CRD installed, and may sonde list it?): "+err.Error())
				}
			}
			if ingresses != nil && !ingresses.synced() {
				if err := ingresses.lastError(); err != nil {
					c.opts.Health.Set(pipeline.HealthUnhealthy, "cannot list ingresses for probes (may sonde list them?): "+err.Error())
				}
			}
			continue
		}
		// Something changed: publish once things settle.
		timer.Reset(publishDelay)
	}
}

// compute decodes every monitor, builds its jobs and applies them to in. Problems are
// counted every time and logged once per monitor version. needIngresses: a Probe selects
// Ingresses.
func (c *Component) compute(cfg Config, w *watcher, in pipeline.Targets, reported map[string]string) (_ pipeline.Targets, needIngresses bool) {
	_, key := cfg.resource()
	objs := w.list()
	var (
		jobs                             []Job
		status                           []MonitorStatus
		valid, invalid, skipped, ignored int
		seen                             = map[string]bool{}
	)
	for _, u := range objs {
		id := u.GetNamespace() + "/" + u.GetName()
		seen[id] = true
		log := reported[id] != u.GetResourceVersion()
		reported[id] = u.GetResourceVersion()
		st := MonitorStatus{Monitor: id}
		var js []Job
		var err error
		if cfg.Kind == Probe {
			var p *ProbeMonitor
			if p, err = DecodeProbe(u); err == nil {
				st.Ignored = p.Ignored
				ignored += len(p.Ignored)
				if p.Skipped != "" {
					st.Skipped = []string{p.Skipped}
					skipped++
				} else {
					var j Job
					if j, err = ProbeJob(p); err == nil {
						js = []Job{j}
						needIngresses = needIngresses || j.Rules[RoleIngress] != nil
					}
				}
			}
		} else {
			var m *Monitor
			if m, err = Decode(u, key); err == nil {
				js, err = Jobs(cfg.Kind, m)
			}
			if m != nil {
				st.Ignored = m.Ignored
				for _, i := range slices.Sorted(maps.Keys(m.Skipped)) {
					st.Skipped = append(st.Skipped, m.Skipped[i])
				}
				skipped += len(m.Skipped)
				ignored += len(m.Ignored)
			}
		}
		switch {
		case err != nil:
			invalid++
			st.Error = err.Error()
			if log {
				c.opts.Logger.Warn("monitor is invalid, its faulty endpoints are not scraped", "monitor", id, "err", err)
			}
		default:
			valid++
		}
		if log && len(st.Skipped) > 0 {
			c.opts.Logger.Warn("monitor endpoints not scraped: they set fields sonde does not support", "monitor", id, "fields", st.Skipped)
		}
		if log && len(st.Ignored) > 0 {
			c.opts.Logger.Warn("monitor fields ignored: sonde does not support them", "monitor", id, "fields", st.Ignored)
		}
		for _, j := range js {
			st.Jobs = append(st.Jobs, j.Name)
		}
		jobs = append(jobs, js...)
		status = append(status, st)
	}
	for id := range reported {
		if !seen[id] {
			delete(reported, id)
		}
	}
	out, wrongRole := Apply(jobs, in)
	c.metrics.observe(valid, invalid, len(jobs), skipped, ignored, len(in), len(out), wrongRole)
	c.mu.Lock()
	c.status = status
	c.mu.Unlock()
	return out, needIngresses
}

func equalClient(a, b kube.ClientArgs) bool {
	return fmt.Sprintf("%#v", a) == fmt.Sprintf("%#v", b)
}

// watcher is one informer per namespace watched, over the monitors' resource.
type watcher struct {
	informers []cache.SharedIndexInformer
	changed   chan struct{} // nudged on every event; buffered, one pending nudge is enough
	hc        *http.Client  // the watcher's own; its connections are closed on stop
	// calls is held (read) by every list and watch request: the informers do not wait for
	// a list in flight when they stop, and its connection must not outlive stop.
	calls  sync.RWMutex
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu  sync.Mutex
	err error // the latest list or watch error
}

// startWatcher watches gvr in namespaces (empty: all) with a label selector.
func startWatcher(client kube.ClientArgs, gvr schema.GroupVersionResource, namespaces []string, selector string) (*watcher, error) {
	rc, err := client.RestConfig()
	if err != nil {
		return nil, err
	}
	// The dynamic client speaks JSON; RestConfig asks for protobuf, which custom
	// resources are not served in.
	rc.ContentType, rc.AcceptContentTypes = runtime.ContentTypeJSON, runtime.ContentTypeJSON
	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		return nil, err
	}
	dc, err := dynamic.NewForConfigAndClient(rc, hc)
	if err != nil {
		return nil, err
	}
	res := gvr.Resource
	ri := dc.Resource(gvr)
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	w := &watcher{changed: make(chan struct{}, 1), hc: hc}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	nudge := func() {
		select {
		case w.changed <- struct{}{}:
		default:
		}
	}
	for _, ns := range namespaces {
		sel := func(o metav1.ListOptions) metav1.ListOptions {
			o.LabelSelector = selector
			return o
		}
		lw := &cache.ListWatch{
			ListWithContextFunc: func(lctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				w.calls.RLock()
				defer w.calls.RUnlock()
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				return ri.Namespace(ns).List(lctx, sel(o))
			},
			WatchFuncWithContext: func(wctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				w.calls.RLock()
				defer w.calls.RUnlock()
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				return ri.Namespace(ns).Watch(wctx, sel(o))
			},
		}
		inf := cache.NewSharedIndexInformerWithOptions(lw, &unstructured.Unstructured{},
			cache.SharedIndexInformerOptions{ObjectDescription: res + " namespace=" + ns})
		_ = inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
			w.mu.Lock()
			w.err = err
			w.mu.Unlock()
		})
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { nudge() },
			UpdateFunc: func(any, any) { nudge() },
			DeleteFunc: func(any) { nudge() },
		}); err != nil {
			cancel()
			return nil, err
		}
		w.informers = append(w.informers, inf)
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			inf.RunWithContext(ctx)
		}()
	}
	return w, nil
}

func (w *watcher) synced() bool {
	for _, i := range w.informers {
		if !i.HasSynced() {
			return false
		}
	}
	return true
}

func (w *watcher) lastError() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// list returns every monitor, sorted by namespace and name.
func (w *watcher) list() []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, i := range w.informers {
		for _, o := range i.GetStore().List() {
			if u, ok := o.(*unstructured.Unstructured); ok {
				out = append(out, u)
			}
		}
	}
	slices.SortFunc(out, func(a, b *unstructured.Unstructured) int {
		if c := strings.Compare(a.GetNamespace(), b.GetNamespace()); c != 0 {
			return c
		}
		return strings.Compare(a.GetName(), b.GetName())
	})
	return out
}

// stop ends the informers and waits for them. Safe twice.
func (w *watcher) stop() {
	w.cancel()
	w.wg.Wait()
	w.calls.Lock() // every request in flight has returned (they were cancelled)
	w.calls.Unlock()
	// Through client-go's wrappers, down to the transport that holds the connections.
	utilnet.CloseIdleConnectionsFor(w.hc.Transport)
}
