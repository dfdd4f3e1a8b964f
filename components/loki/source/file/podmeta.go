package file

import (
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/util/strutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/sondehq/sonde/internal/kube"
)

// podLookup finds a pod of this node by uid. The maps it returns belong to the cache and
// must not be modified. Safe for concurrent use.
type podLookup interface {
	Pod(uid string) (labels, annotations map[string]string, ok bool)
	// Synced reports whether the cache holds the API server's initial list: until then a
	// pod not found may just not be listed yet.
	Synced() bool
}

// podSource opens a podLookup for the arguments; release gives it back. added is called,
// from another goroutine and without blocking, when a pod enters the cache.
type podSource func(a *Arguments, added func()) (lookup podLookup, release func(), err error)

// uidIndex is the index by pod uid this component adds to the shared pod informer.
const uidIndex = "sonde_loki_source_file_uid"

// kubePods opens the node-local pod informer of the process's cache (the same one
// discovery.kubernetes with node: uses, so the pods are listed and watched once per
// process) and looks pods up through an index by uid.
func kubePods(kc *kube.Cache) podSource {
	return func(a *Arguments, added func()) (podLookup, func(), error) {
		return informerPods(kc, a, added)
	}
}

func informerPods(kc *kube.Cache, a *Arguments, added func()) (podLookup, func(), error) {
	cl, err := kc.Client(a.ClientArgs)
	if err != nil {
		return nil, nil, err
	}
	inf, err := cl.Informer(kube.InformerKey{Resource: kube.Pods, FieldSelector: "spec.nodeName=" + a.Node})
	cl.Release() // the informer holds its own reference
	if err != nil {
		return nil, nil, err
	}
	err = inf.AddIndexers(cache.Indexers{uidIndex: func(obj any) ([]string, error) {
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			return nil, errors.New("object is not a pod")
		}
		return []string{string(pod.UID)}, nil
	}})
	// Another user of the shared informer may have added the index first.
	if _, ok := inf.GetIndexer().GetIndexers()[uidIndex]; !ok {
		inf.Release()
		return nil, nil, fmt.Errorf("index pods by uid: %w", err)
	}
	// The handler tells the component a pod arrived (files waiting for it are let go at
	// once, not at the next check); its registration tells when the initial list is in.
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(any) { added() }}); err != nil {
		inf.Release()
		return nil, nil, fmt.Errorf("watch pods: %w", err)
	}
	return &indexLookup{store: inf.GetIndexer(), synced: inf.HandlersSynced}, inf.Release, nil
}

type indexLookup struct {
	store  cache.Indexer
	synced func() bool
}

func (l *indexLookup) Synced() bool { return l.synced() }

func (l *indexLookup) Pod(uid string) (map[string]string, map[string]string, bool) {
	objs, err := l.store.ByIndex(uidIndex, uid)
	if err != nil || len(objs) == 0 {
		return nil, nil, false
	}
	pod, ok := objs[0].(*corev1.Pod)
	if !ok {
		return nil, nil, false
	}
	return pod.Labels, pod.Annotations, true
}

// pods holds the component's pod lookup, opened while pod_labels or pod_annotations are
// set and reopened when the connection keys change. Only Run uses it.
type pods struct {
	open     podSource
	added    func() // passed to open
	lookup   podLookup
	release  func()
	key      *podsKey
	openedAt time.Time // when lookup was opened: the wait for its initial list starts then
}

type podsKey struct {
	client kube.ClientArgs
	node   string
}

// sync opens, reopens or closes the lookup for a; an error leaves no lookup (files are
// then tailed without pod metadata).
func (p *pods) sync(a *Arguments) error {
	var want *podsKey
	if a.podMetadata() {
		want = &podsKey{client: a.ClientArgs, node: a.Node}
	}
	if reflect.DeepEqual(want, p.key) {
		return nil
	}
	p.close()
	if want == nil {
		return nil
	}
	lookup, release, err := p.open(a, p.added)
	if err != nil {
		return err
	}
	p.lookup, p.release, p.key, p.openedAt = lookup, release, want, time.Now()
	return nil
}

func (p *pods) close() {
	if p.release != nil {
		p.release()
	}
	p.lookup, p.release, p.key = nil, nil, nil
}

// podState is what the pod cache said about a file's pod.
type podState uint8

const (
	podNotAsked podState = iota // no pod metadata asked for, no cache, or not a kubelet path
	podFound
	podMissing  // the cache holds its initial list and not this pod
	podUnsynced // the cache has not listed the pods yet
)

// pending reports whether the pod metadata is still to come.
func (st podState) pending() bool { return st == podMissing || st == podUnsynced }

// podExtra returns the selected labels and annotations of the pod with uid as labels, and
// what the cache said. Without a lookup (not asked for, or the cache could not be opened)
// there is nothing to add and nothing to wait for.
func podExtra(l podLookup, uid string, s *settings) (model.LabelSet, podState) {
	if l == nil || (len(s.podLabels) == 0 && len(s.podAnnots) == 0) {
		return nil, podNotAsked
	}
	labels, annots, ok := l.Pod(uid)
	if !ok {
		if !l.Synced() {
			return nil, podUnsynced
		}
		return nil, podMissing
	}
	out := model.LabelSet{}
	for _, set := range []struct {
		fields []podField
		values map[string]string
	}{{s.podLabels, labels}, {s.podAnnots, annots}} {
		for _, f := range set.fields {
			if v, ok := set.values[f.key]; ok && model.LabelValue(v).IsValid() {
				out[f.name] = model.LabelValue(v)
			}
		}
	}
	return out, podFound
}

// sanitizeLabelName turns a label or annotation key into a label name as Prometheus'
// Kubernetes discovery does (every character outside [a-zA-Z0-9_] becomes "_"), with a
// leading "_" where it would start with a digit.
func sanitizeLabelName(key string) string {
	n := strutil.SanitizeLabelName(key)
	if n != "" && n[0] >= '0' && n[0] <= '9' {
		n = "_" + n
	}
	return n
}
