package kubernetes

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	kubeclient "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/sondehq/sonde/internal/kube"
)

// source is the API client and pod informers of one set of arguments.
type source struct {
	client *kube.Client
	infs   []*kube.Informer
}

// newSource takes a client and the pod informers of args from c; every pod event signals
// changed (without blocking).
func newSource(c *kube.Cache, args *Arguments, changed chan struct{}) (*source, error) {
	cl, err := c.Client(args.ClientArgs)
	if err != nil {
		return nil, err
	}
	s := &source{client: cl}
	signal := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { signal() },
		UpdateFunc: func(any, any) { signal() },
		DeleteFunc: func(any) { signal() },
	}
	for _, key := range args.informerKeys() {
		inf, err := cl.Informer(key)
		if err != nil {
			s.release()
			return nil, err
		}
		s.infs = append(s.infs, inf)
		if _, err := inf.AddEventHandler(handler); err != nil {
			s.release()
			return nil, err
		}
	}
	return s, nil
}

// release gives the informers and the client back to the cache.
func (s *source) release() {
	for _, inf := range s.infs {
		inf.Release()
	}
	s.client.Release()
}

func (s *source) clientset() kubeclient.Interface { return s.client.Clientset() }

// synced reports whether every informer delivered its initial list.
func (s *source) synced() bool {
	for _, inf := range s.infs {
		if !inf.HandlersSynced() {
			return false
		}
	}
	return true
}

// lastError returns an informer's latest failed list or watch, or nil.
func (s *source) lastError() error {
	for _, inf := range s.infs {
		if err := inf.LastError(); err != nil {
			return err
		}
	}
	return nil
}

func (s *source) pods() []*corev1.Pod {
	var out []*corev1.Pod
	for _, inf := range s.infs {
		for _, o := range inf.GetStore().List() {
			if p, ok := o.(*corev1.Pod); ok {
				out = append(out, p)
			}
		}
	}
	return out
}

// uids returns the uids of the pods the informers hold.
func (s *source) uids() map[types.UID]bool {
	out := map[types.UID]bool{}
	for _, p := range s.pods() {
		out[p.UID] = true
	}
	return out
}

// wanted returns the streams to follow: every running container (init and ephemeral ones
// included) of the pods the informers hold.
func (s *source) wanted() map[streamKey]stream {
	out := map[streamKey]stream{}
	for _, p := range s.pods() {
		for _, statuses := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses, p.Status.EphemeralContainerStatuses} {
			for _, st := range statuses {
				if st.State.Running == nil {
					continue
				}
				key := streamKey{UID: p.UID, Container: st.Name}
				out[key] = stream{key: key, namespace: p.Namespace, pod: p.Name}
			}
		}
	}
	return out
}
