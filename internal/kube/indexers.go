package kube

import (
	"errors"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// Index names Prometheus' discoverers look up in their informers (the constants are
// unexported in prometheus/discovery/kubernetes; these must stay equal to them).
const (
	nodeIndex       = "node"
	podIndex        = "pod"
	replicaSetIndex = "replicaset"
	jobIndex        = "job"
	serviceIndex    = "service"
)

// indexersFor returns every index any discoverer may need for resource. A shared informer
// serves discoverers with different attach_metadata settings, so it always carries all of
// them; they cost a map entry per object.
func indexersFor(r Resource) cache.Indexers {
	ns := cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}
	switch r {
	case Pods:
		ns[nodeIndex] = func(obj any) ([]string, error) {
			pod, ok := obj.(*corev1.Pod)
			if !ok {
				return nil, errors.New("object is not a pod")
			}
			return []string{pod.Spec.NodeName}, nil
		}
		ns[replicaSetIndex] = ownerIndex("ReplicaSet")
		ns[jobIndex] = ownerIndex("Job")
	case Endpoints:
		ns[podIndex] = endpointsPodIndex
		ns[nodeIndex] = endpointsNodeIndex
	case EndpointSlices:
		ns[serviceIndex] = func(obj any) ([]string, error) {
			e, ok := obj.(*discoveryv1.EndpointSlice)
			if !ok {
				return nil, errors.New("object is not an endpointslice")
			}
			svc, ok := e.Labels[discoveryv1.LabelServiceName]
			if !ok {
				return nil, nil
			}
			return []string{e.Namespace + "/" + svc}, nil
		}
		ns[nodeIndex] = func(obj any) ([]string, error) {
			e, ok := obj.(*discoveryv1.EndpointSlice)
			if !ok {
				return nil, errors.New("object is not an endpointslice")
			}
			var nodes []string
			for _, ep := range e.Endpoints {
				if ep.TargetRef == nil {
					continue
				}
				switch ep.TargetRef.Kind {
				case "Pod":
					if ep.NodeName != nil {
						nodes = append(nodes, *ep.NodeName)
					}
				case "Node":
					nodes = append(nodes, ep.TargetRef.Name)
				}
			}
			return nodes, nil
		}
	case Nodes, Namespaces:
		return cache.Indexers{}
	}
	return ns
}

// ownerIndex indexes pods by "namespace/name" of their controller of the given kind.
func ownerIndex(kind string) cache.IndexFunc {
	return func(obj any) ([]string, error) {
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			return nil, errors.New("object is not a pod")
		}
		owner := metav1.GetControllerOf(pod)
		if owner == nil || owner.Kind != kind {
			return nil, nil
		}
		return []string{pod.Namespace + "/" + owner.Name}, nil
	}
}

//nolint:staticcheck // Endpoints are deprecated but still served; Prometheus' role endpoints reads them.
func endpointsPodIndex(obj any) ([]string, error) {
	e, ok := obj.(*corev1.Endpoints)
	if !ok {
		return nil, errors.New("object is not endpoints")
	}
	var pods []string
	for _, s := range e.Subsets {
		for _, a := range s.Addresses {
			if a.TargetRef != nil && a.TargetRef.Kind == "Pod" {
				pods = append(pods, a.TargetRef.Namespace+"/"+a.TargetRef.Name)
			}
		}
	}
	return pods, nil
}

//nolint:staticcheck // Endpoints are deprecated but still served; Prometheus' role endpoints reads them.
func endpointsNodeIndex(obj any) ([]string, error) {
	e, ok := obj.(*corev1.Endpoints)
	if !ok {
		return nil, errors.New("object is not endpoints")
	}
	var nodes []string
	for _, s := range e.Subsets {
		for _, a := range s.Addresses {
			if a.TargetRef == nil {
				continue
			}
			switch a.TargetRef.Kind {
			case "Pod":
				if a.NodeName != nil {
					nodes = append(nodes, *a.NodeName)
				}
			case "Node":
				nodes = append(nodes, a.TargetRef.Name)
			}
		}
	}
	return nodes, nil
}
