package shard

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/sondehq/sonde/internal/kube"
)

// membership watches sonde's own DaemonSet pods through the shared informer cache. The
// members are the ready pods as the API server lists them: the same list on every agent,
// so every agent computes the same owner for every target without talking to the others.
type membership struct {
	client  *kube.Client
	inf     *kube.Informer
	changed chan struct{} // signalled (coalesced) on every pod event

	key       membershipKey
	namespace string
	pod       string
}

// membershipKey is what a membership depends on; another key needs another membership.
type membershipKey struct {
	client    kube.ClientArgs
	namespace string
	selector  string
	pod       string
}

func newMembership(c *kube.Cache, args *Arguments) (_ *membership, err error) {
	ns, pod, err := args.resolve()
	if err != nil {
		return nil, err
	}
	client, err := c.Client(args.ClientArgs)
	if err != nil {
		return nil, err
	}
	m := &membership{client: client, changed: make(chan struct{}, 1), namespace: ns, pod: pod,
		key: membershipKey{client: args.ClientArgs, namespace: args.Namespace, selector: args.Selector, pod: args.PodName}}
	defer func() {
		if err != nil {
			m.release()
		}
	}()
	m.inf, err = client.Informer(kube.InformerKey{Resource: kube.Pods, Namespace: ns, LabelSelector: args.Selector})
	if err != nil {
		return nil, err
	}
	signal := func() {
		select {
		case m.changed <- struct{}{}:
		default:
		}
	}
	_, err = m.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { signal() },
		UpdateFunc: func(any, any) { signal() },
		DeleteFunc: func(any) { signal() },
	})
	return m, err
}

func (m *membership) synced() bool { return m.inf.HandlersSynced() }

// members returns the sorted member ids (node names) and this agent's id, "" when this
// agent is not a member (its pod is not ready, is terminating, or another ready pod holds
// its node).
func (m *membership) members() (ids []string, self string) {
	var pods []*corev1.Pod
	for _, o := range m.inf.GetStore().List() {
		if p, ok := o.(*corev1.Pod); ok {
			pods = append(pods, p)
		}
	}
	return Members(pods, m.pod)
}

// Members picks the members among pods: ready (Running, PodReady true, not terminating),
// one per node. A member's id is its node name, so that a DaemonSet pod replaced on the
// same node (a new pod name) gets the same targets back. When two ready pods share a node
// (a DaemonSet rolling update with maxSurge), the older one is the member until it goes,
// so the two never both scrape. self is own's id when own is a member, else "".
func Members(pods []*corev1.Pod, own string) (ids []string, self string) {
	holder := map[string]*corev1.Pod{}
	for _, p := range pods {
		if !ready(p) {
			continue
		}
		id := p.Spec.NodeName
		if id == "" {
			id = p.Name
		}
		if h, ok := holder[id]; !ok || older(p, h) {
			holder[id] = p
		}
	}
	for id, p := range holder {
		ids = append(ids, id)
		if p.Name == own {
			self = id
		}
	}
	slices.Sort(ids)
	return ids, self
}

func ready(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func older(a, b *corev1.Pod) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}

func (m *membership) release() {
	if m.inf != nil {
		m.inf.Release()
	}
	m.client.Release()
}
