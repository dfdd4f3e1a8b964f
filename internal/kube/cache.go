// Package kube is the process's Kubernetes client and informer cache: one Cache per
// process, built by cmd/sonde and handed to every component as pipeline.Options.Kube, so
// that components asking for the same objects share one API client and one informer.
package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/watch"
	kubeclient "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Why sonde has its own informer cache instead of running Prometheus' kubernetes.Discovery:
// Prometheus builds a fresh set of informers for every discoverer (a pod discoverer, an
// endpoints discoverer and a second component asking for the same pods each list and watch
// the API server on their own). The issue asks for one informer per resource per process, no
// matter how many components ask, so the informers live here, shared and reference counted,
// and discovery.kubernetes runs Prometheus' own exported discoverers (NewPod, NewNode,
// NewService, NewEndpoints, NewEndpointSlice) on top of them; the target labels are therefore exactly
// Prometheus'.

// Resource is a kind of object the cache can list and watch.
type Resource string

// Resources the cache knows.
const (
	Pods           Resource = "pods"
	Nodes          Resource = "nodes"
	Services       Resource = "services"
	Endpoints      Resource = "endpoints"
	EndpointSlices Resource = "endpointslices"
	Namespaces     Resource = "namespaces"
	ReplicaSets    Resource = "replicasets"
	Jobs           Resource = "jobs"
)

// InformerKey identifies one shared informer of a client: the same key on the same client
// gets the same informer.
type InformerKey struct {
	Resource Resource
	// Namespace restricts namespaced resources; "" is all namespaces.
	Namespace string
	// LabelSelector and FieldSelector are sent with every list and watch.
	LabelSelector string
	FieldSelector string
}

func (k InformerKey) String() string {
	s := string(k.Resource)
	if k.Namespace != "" {
		s += " namespace=" + k.Namespace
	}
	if k.LabelSelector != "" {
		s += " labels=" + k.LabelSelector
	}
	if k.FieldSelector != "" {
		s += " fields=" + k.FieldSelector
	}
	return s
}

// Cache holds API clients and informers shared by every component of the process. Clients
// are shared between users with equal ClientArgs, informers between users of the same
// client and InformerKey. Both are reference counted: an informer starts with its first
// user and stops (closing its watch) when its last user releases it, so a Cache holds
// nothing running once every user has released what it acquired, and needs no stopping.
type Cache struct {
	logger *slog.Logger // the cache's own messages: informers starting and stopping, API server warnings

	mu        sync.Mutex
	clients   []*sharedClient
	informers map[informerID]*sharedInformer
}

// NewCache returns an empty cache that logs to logger.
func NewCache(logger *slog.Logger) *Cache {
	return &Cache{logger: logger, informers: map[informerID]*sharedInformer{}}
}

type sharedClient struct {
	args ClientArgs
	cs   kubeclient.Interface
	hc   *http.Client
	refs int // guarded by Cache.mu
}

type informerID struct {
	client *sharedClient
	key    InformerKey
}

type sharedInformer struct {
	inf      cache.SharedIndexInformer
	refs     int // guarded by Cache.mu
	cancel   context.CancelFunc
	done     chan struct{}
	failures atomic.Uint64               // failed list and watch requests
	lastErr  atomic.Pointer[errorHolder] // the latest of them
}

type errorHolder struct{ err error }

// Client is one user's reference to a shared API client. Release it when done; informers
// acquired through it hold references of their own.
type Client struct {
	cache    *Cache
	sc       *sharedClient
	released atomic.Bool
}

// Client returns a reference to the shared client for args, creating it if needed.
func (c *Cache) Client(args ClientArgs) (*Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, sc := range c.clients {
		if reflect.DeepEqual(sc.args, args) {
			sc.refs++
			return &Client{cache: c, sc: sc}, nil
		}
	}
	cfg, err := args.RestConfig()
	if err != nil {
		return nil, err
	}
	cfg.WarningHandlerWithContext = &warningLogger{logger: c.logger, seen: map[string]bool{}}
	cs, hc, err := newClientset(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	sc := &sharedClient{args: args, cs: cs, hc: hc, refs: 1}
	c.clients = append(c.clients, sc)
	return &Client{cache: c, sc: sc}, nil
}

// Clientset returns the client-go clientset.
func (cl *Client) Clientset() kubeclient.Interface { return cl.sc.cs }

// Release drops this reference; the last one closes the client's idle connections. Safe to
// call twice.
func (cl *Client) Release() {
	if cl.released.Swap(true) {
		return
	}
	cl.cache.releaseClient(cl.sc)
}

func (c *Cache) releaseClient(sc *sharedClient) {
	c.mu.Lock()
	sc.refs--
	last := sc.refs == 0
	if last {
		for i, o := range c.clients {
			if o == sc {
				c.clients = append(c.clients[:i], c.clients[i+1:]...)
				break
			}
		}
	}
	c.mu.Unlock()
	if last {
		utilnet.CloseIdleConnectionsFor(sc.hc.Transport)
	}
}

// Informer returns a handle on the shared informer for key, starting it if this is its
// first user. The handle implements cache.SharedIndexInformer; see Informer.
func (cl *Client) Informer(key InformerKey) (*Informer, error) {
	if cl.released.Load() {
		return nil, errors.New("kubernetes: informer from a released client")
	}
	c := cl.cache
	id := informerID{client: cl.sc, key: key}
	c.mu.Lock()
	defer c.mu.Unlock()
	si, ok := c.informers[id]
	if !ok {
		inf, err := newInformer(cl.sc.cs, key)
		if err != nil {
			return nil, err
		}
		si = &sharedInformer{inf: inf, done: make(chan struct{})}
		if err := inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
			si.failures.Add(1)
			si.lastErr.Store(&errorHolder{err})
			cache.DefaultWatchErrorHandler(ctx, r, err)
		}); err != nil {
			return nil, err
		}
		if err := inf.SetTransform(stripManagedFields); err != nil {
			return nil, err
		}
		ctx, cancel := context.WithCancel(context.Background())
		si.cancel = cancel
		go func() {
			defer close(si.done)
			inf.RunWithContext(ctx)
		}()
		c.informers[id] = si
		c.logger.Debug("kubernetes informer started", "informer", key.String(), "client", cl.sc.args.Mode())
	}
	si.refs++
	cl.sc.refs++ // the informer keeps its client
	return &Informer{SharedIndexInformer: si.inf, key: key, cache: c, id: id, si: si}, nil
}

// Informers lists the running informers and their number of users, for tests and status.
func (c *Cache) Informers() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.informers))
	for id, si := range c.informers {
		out[id.client.args.Mode()+" "+id.key.String()] += si.refs
	}
	return out
}

func (c *Cache) releaseInformer(id informerID, si *sharedInformer) {
	c.mu.Lock()
	si.refs--
	last := si.refs == 0
	if last {
		delete(c.informers, id)
	}
	c.mu.Unlock()
	if last {
		si.cancel()
		// Bounded: an informer stops as soon as its watch request returns.
		select {
		case <-si.done:
		case <-time.After(30 * time.Second):
			c.logger.Warn("kubernetes informer did not stop within 30s", "informer", id.key.String())
		}
		c.logger.Debug("kubernetes informer stopped", "informer", id.key.String())
	}
	c.releaseClient(id.client)
}

// Informer is one user's handle on a shared informer. It implements
// cache.SharedIndexInformer so that it can be handed to Prometheus' discoverers, with these
// differences: event handlers added through it are removed by Release (the shared informer
// outlives this user); Run and RunWithContext only wait for the context (the cache runs
// the informer); the watch error handler and transform cannot be changed.
type Informer struct {
	cache.SharedIndexInformer
	key   InformerKey
	cache *Cache
	id    informerID
	si    *sharedInformer

	mu       sync.Mutex
	regs     []cache.ResourceEventHandlerRegistration
	released bool
}

// Key returns the informer's key.
func (i *Informer) Key() InformerKey { return i.key }

// Failures returns the number of failed list and watch requests of the shared informer.
func (i *Informer) Failures() uint64 { return i.si.failures.Load() }

// LastError returns the latest failed list or watch request's error, or nil.
func (i *Informer) LastError() error {
	if h := i.si.lastErr.Load(); h != nil {
		return h.err
	}
	return nil
}

// AddEventHandler implements cache.SharedInformer and remembers the registration.
func (i *Informer) AddEventHandler(h cache.ResourceEventHandler) (cache.ResourceEventHandlerRegistration, error) {
	return i.track(i.SharedIndexInformer.AddEventHandler(h))
}

// AddEventHandlerWithResyncPeriod implements cache.SharedInformer and remembers the
// registration.
func (i *Informer) AddEventHandlerWithResyncPeriod(h cache.ResourceEventHandler, resync time.Duration) (cache.ResourceEventHandlerRegistration, error) {
	return i.track(i.SharedIndexInformer.AddEventHandlerWithResyncPeriod(h, resync))
}

// AddEventHandlerWithOptions implements cache.SharedInformer and remembers the registration.
func (i *Informer) AddEventHandlerWithOptions(h cache.ResourceEventHandler, o cache.HandlerOptions) (cache.ResourceEventHandlerRegistration, error) {
	return i.track(i.SharedIndexInformer.AddEventHandlerWithOptions(h, o))
}

func (i *Informer) track(reg cache.ResourceEventHandlerRegistration, err error) (cache.ResourceEventHandlerRegistration, error) {
	if err != nil {
		return reg, err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.released {
		_ = i.SharedIndexInformer.RemoveEventHandler(reg)
		return nil, errors.New("kubernetes: event handler added to a released informer")
	}
	i.regs = append(i.regs, reg)
	return reg, nil
}

// HandlersSynced reports whether every handler added through this handle has been sent the
// informer's initial list.
func (i *Informer) HandlersSynced() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	if !i.SharedIndexInformer.HasSynced() {
		return false
	}
	for _, r := range i.regs {
		if !r.HasSynced() {
			return false
		}
	}
	return true
}

// Run implements cache.SharedInformer: the cache runs the informer, so this only waits.
func (i *Informer) Run(stop <-chan struct{}) { <-stop }

// RunWithContext implements cache.SharedInformer: the cache runs the informer, so this
// only waits.
func (i *Informer) RunWithContext(ctx context.Context) { <-ctx.Done() }

// SetWatchErrorHandler implements cache.SharedInformer: the cache owns the handler.
func (i *Informer) SetWatchErrorHandler(cache.WatchErrorHandler) error {
	return errors.New("kubernetes: shared informers keep the cache's watch error handler")
}

// SetWatchErrorHandlerWithContext implements cache.SharedInformer: the cache owns the
// handler.
func (i *Informer) SetWatchErrorHandlerWithContext(cache.WatchErrorHandlerWithContext) error {
	return errors.New("kubernetes: shared informers keep the cache's watch error handler")
}

// SetTransform implements cache.SharedInformer: the cache owns the transform.
func (i *Informer) SetTransform(cache.TransformFunc) error {
	return errors.New("kubernetes: shared informers keep the cache's transform")
}

// Release removes the event handlers added through this handle and drops the reference;
// the last one stops the informer. Safe to call twice.
func (i *Informer) Release() {
	i.mu.Lock()
	if i.released {
		i.mu.Unlock()
		return
	}
	i.released = true
	regs := i.regs
	i.regs = nil
	i.mu.Unlock()
	for _, r := range regs {
		_ = i.SharedIndexInformer.RemoveEventHandler(r)
	}
	i.cache.releaseInformer(i.id, i.si)
}

var _ cache.SharedIndexInformer = (*Informer)(nil)

// warningLogger logs each distinct API server warning (such as "v1 Endpoints is
// deprecated") once per client instead of on every request.
type warningLogger struct {
	logger *slog.Logger
	mu     sync.Mutex
	seen   map[string]bool
}

func (w *warningLogger) HandleWarningHeaderWithContext(_ context.Context, code int, _ string, text string) {
	if code != 299 || text == "" {
		return
	}
	w.mu.Lock()
	first := !w.seen[text] && len(w.seen) < 100
	if first {
		w.seen[text] = true
	}
	w.mu.Unlock()
	if first {
		w.logger.Info("kubernetes API server warning", "warning", text)
	}
}

// stripManagedFields drops metadata.managedFields before objects enter the cache: nothing
// in sonde reads them and they are often the largest part of an object.
func stripManagedFields(obj any) (any, error) {
	if acc, err := meta.Accessor(obj); err == nil {
		acc.SetManagedFields(nil)
	}
	return obj, nil
}

// newInformer builds an (unstarted) informer for key with the indexes Prometheus'
// discoverers look up.
func newInformer(cs kubeclient.Interface, key InformerKey) (cache.SharedIndexInformer, error) {
	var (
		lw      *cache.ListWatch
		example runtime.Object
	)
	sel := func(o metav1.ListOptions) metav1.ListOptions {
		o.LabelSelector, o.FieldSelector = key.LabelSelector, key.FieldSelector
		return o
	}
	ns := key.Namespace
	switch key.Resource {
	case Pods:
		c := cs.CoreV1().Pods(ns)
		lw, example = listWatch(sel, c.List, c.Watch), &corev1.Pod{}
	case Nodes:
		c := cs.CoreV1().Nodes()
		lw, example = listWatch(sel, c.List, c.Watch), &corev1.Node{}
	case Services:
		c := cs.CoreV1().Services(ns)
		lw, example = listWatch(sel, c.List, c.Watch), &corev1.Service{}
	case Endpoints:
		//nolint:staticcheck // Endpoints are deprecated but still served; Prometheus' role endpoints reads them.
		c := cs.CoreV1().Endpoints(ns)
		lw, example = listWatch(sel, c.List, c.Watch), &corev1.Endpoints{} //nolint:staticcheck
	case EndpointSlices:
		c := cs.DiscoveryV1().EndpointSlices(ns)
		lw, example = listWatch(sel, c.List, c.Watch), &discoveryv1.EndpointSlice{}
	case Namespaces:
		c := cs.CoreV1().Namespaces()
		lw, example = listWatch(sel, c.List, c.Watch), &corev1.Namespace{}
	case ReplicaSets:
		c := cs.AppsV1().ReplicaSets(ns)
		lw, example = listWatch(sel, c.List, c.Watch), &appsv1.ReplicaSet{}
	case Jobs:
		c := cs.BatchV1().Jobs(ns)
		lw, example = listWatch(sel, c.List, c.Watch), &batchv1.Job{}
	default:
		return nil, fmt.Errorf("kubernetes: unknown resource %q", key.Resource)
	}
	return cache.NewSharedIndexInformerWithOptions(lw, example, cache.SharedIndexInformerOptions{
		Indexers:          indexersFor(key.Resource),
		ObjectDescription: key.String(),
	}), nil
}

func listWatch[L runtime.Object](
	sel func(metav1.ListOptions) metav1.ListOptions,
	list func(context.Context, metav1.ListOptions) (L, error),
	watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error),
) *cache.ListWatch {
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return list(ctx, sel(o))
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return watchFn(ctx, sel(o))
		},
	}
}
