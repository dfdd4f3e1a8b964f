package k8sattributes

import (
	"context"
	"net"
	"strings"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Resource attribute names (OpenTelemetry semantic conventions).
const (
	attrNamespace   = "k8s.namespace.name"
	attrPodName     = "k8s.pod.name"
	attrPodUID      = "k8s.pod.uid"
	attrPodIP       = "k8s.pod.ip"
	attrNodeName    = "k8s.node.name"
	attrContainer   = "k8s.container.name"
	attrContainerID = "container.id"
	attrDeployment  = "k8s.deployment.name"
	attrReplicaSet  = "k8s.replicaset.name"
	attrStatefulSet = "k8s.statefulset.name"
	attrDaemonSet   = "k8s.daemonset.name"
	attrJob         = "k8s.job.name"
)

// Results of enriching one resource, for the metric.
const (
	resultEnriched   = "enriched"
	resultNotFound   = "not_found"   // an identity was there, no pod of this node has it
	resultNoIdentity = "no_identity" // no uid, no ip attribute, no connection address
)

// connectionIP returns the source IP of the connection the data arrived on, which the
// collector's receiver puts in the context (client.Info).
func connectionIP(ctx context.Context) string {
	addr := client.FromContext(ctx).Addr
	switch a := addr.(type) {
	case *net.TCPAddr:
		return a.IP.String()
	case *net.UDPAddr:
		return a.IP.String()
	case *net.IPAddr:
		return a.IP.String()
	case nil:
		return ""
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}

// enrich adds the pod's attributes to one resource.
func enrich(res pcommon.Resource, lookup PodLookup, connIP string) string {
	attrs := res.Attributes()
	pod, found, tried := Pod{}, false, false
	if v, ok := attrs.Get(attrPodUID); ok && v.Str() != "" {
		tried = true
		pod, found = lookup.PodByUID(v.Str())
	}
	if !found {
		if v, ok := attrs.Get(attrPodIP); ok && v.Str() != "" {
			tried = true
			pod, found = lookup.PodByIP(v.Str())
		}
	}
	if !found && connIP != "" {
		tried = true
		pod, found = lookup.PodByIP(connIP)
	}
	switch {
	case found:
	case tried:
		return resultNotFound
	default:
		return resultNoIdentity
	}
	putIfAbsent(attrs, attrNamespace, pod.Namespace)
	putIfAbsent(attrs, attrPodName, pod.Name)
	putIfAbsent(attrs, attrPodUID, pod.UID)
	putIfAbsent(attrs, attrNodeName, pod.NodeName)
	putIfAbsent(attrs, attrContainer, containerName(attrs, pod))
	switch pod.ControllerKind {
	case "ReplicaSet":
		putIfAbsent(attrs, attrReplicaSet, pod.ControllerName)
		putIfAbsent(attrs, attrDeployment, deploymentOf(pod.ControllerName))
	case "StatefulSet":
		putIfAbsent(attrs, attrStatefulSet, pod.ControllerName)
	case "DaemonSet":
		putIfAbsent(attrs, attrDaemonSet, pod.ControllerName)
	case "Job":
		putIfAbsent(attrs, attrJob, pod.ControllerName)
	}
	return resultEnriched
}

// containerName is the container matching the container.id attribute, or the pod's only
// container; "" when it cannot be told.
func containerName(attrs pcommon.Map, pod Pod) string {
	if v, ok := attrs.Get(attrContainerID); ok && v.Str() != "" {
		for _, c := range pod.Containers {
			if c.ID != "" && c.ID == v.Str() {
				return c.Name
			}
		}
	}
	if len(pod.Containers) == 1 {
		return pod.Containers[0].Name
	}
	return ""
}

// deploymentOf returns the Deployment owning a ReplicaSet, by Kubernetes' naming: a
// Deployment's ReplicaSets are named "<deployment>-<pod-template-hash>", the hash made of
// the "bcdfghjklmnpqrstvwxz2456789" alphabet. A ReplicaSet not named so has no Deployment.
func deploymentOf(rs string) string {
	i := strings.LastIndexByte(rs, '-')
	if i <= 0 || i == len(rs)-1 {
		return ""
	}
	for _, r := range rs[i+1:] {
		if !strings.ContainsRune("bcdfghjklmnpqrstvwxz2456789", r) {
			return ""
		}
	}
	return rs[:i]
}

func putIfAbsent(attrs pcommon.Map, k, v string) {
	if v == "" {
		return
	}
	if _, ok := attrs.Get(k); ok {
		return
	}
	attrs.PutStr(k, v)
}
