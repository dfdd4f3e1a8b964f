package file

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/util/strutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/sondehq/sonde/discovery/kubernetes"
)

// podLookup finds a pod of this node by uid. The maps it returns belong to the cache and
// must not be modified.
type podLookup interface {
	Pod(uid string) (labels, annotations map[string]string, ok bool)
}

// podSource opens a podLookup for the arguments; release gives it back.
type podSource func(a *Arguments) (lookup podLookup, release func(), err error)

// uidIndex is the index by pod uid this component adds to the shared pod informer.
const uidIndex = "sonde_loki_source_file_uid"

// informerPods opens the shared node-local pod informer (the same one discovery.kubernetes
// with node: uses, so the pods are listed and watched once per process) and looks pods up
// through an index by uid.
func informerPods(a *Arguments) (podLookup, func(), error) {
	cl, err := kubernetes.Shared.Client(a.ClientArgs)
	if err != nil {
		return nil, nil, err
	}
	inf, err := cl.Informer(kubernetes.InformerKey{Resource: kubernetes.Pods, FieldSelector: "spec.nodeName=" + a.Node})
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
	return &indexLookup{store: inf.GetIndexer()}, inf.Release, nil
}

type indexLookup struct{ store cache.Indexer }

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
	open    podSource
	lookup  podLookup
	release func()
	key     *podsKey
}

type podsKey struct {
	client kubernetes.ClientArgs
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
	lookup, release, err := p.open(a)
	if err != nil {
		return err
	}
	p.lookup, p.release, p.key = lookup, release, want
	return nil
}

func (p *pods) close() {
	if p.release != nil {
		p.release()
	}
	p.lookup, p.release, p.key = nil, nil, nil
}

// podExtra returns the selected labels and annotations of the pod with uid as labels, and
// whether the pod was found. Without a lookup (not asked for, or the cache could not be
// opened) it reports the pod found with nothing to add.
func podExtra(l podLookup, uid string, s *settings) (model.LabelSet, bool) {
	if l == nil || (len(s.podLabels) == 0 && len(s.podAnnots) == 0) {
		return nil, true
	}
	labels, annots, ok := l.Pod(uid)
	if !ok {
		return nil, false
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
	return out, true
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
