package k8sattributes

import (
	"strings"
	"sync"

	"github.com/sondehq/sonde/pipeline"
)

// Pod is what the processor knows of one pod.
type Pod struct {
	UID       string
	Name      string
	Namespace string
	NodeName  string
	IP        string
	// HostNetwork pods share the node's IP; they are never found by IP.
	HostNetwork bool
	Containers  []Container
	// ControllerKind and ControllerName are the pod's controlling owner (ReplicaSet,
	// StatefulSet, DaemonSet, Job, …).
	ControllerKind string
	ControllerName string
}

// Container is one container of a pod.
type Container struct {
	Name string
	// ID is the runtime's id without the "containerd://" style prefix.
	ID string
}

// PodLookup finds pods of this node. Implementations are safe for concurrent use and
// answer from memory (a node-local cache), never from the API server.
type PodLookup interface {
	PodByIP(ip string) (Pod, bool)
	PodByUID(uid string) (Pod, bool)
}

// StaticPods is a PodLookup over a fixed list (tests, and hosts without Kubernetes).
type StaticPods struct {
	byIP  map[string]*Pod
	byUID map[string]*Pod
}

var _ PodLookup = (*StaticPods)(nil)

// NewStaticPods indexes pods. An IP that two pods share (host-network pods) finds neither.
func NewStaticPods(pods ...Pod) *StaticPods {
	s := &StaticPods{byIP: map[string]*Pod{}, byUID: map[string]*Pod{}}
	shared := map[string]bool{}
	for i := range pods {
		p := &pods[i]
		if p.UID != "" {
			s.byUID[p.UID] = p
		}
		if p.IP == "" || p.HostNetwork {
			continue
		}
		if _, dup := s.byIP[p.IP]; dup {
			shared[p.IP] = true
		}
		s.byIP[p.IP] = p
	}
	for ip := range shared {
		delete(s.byIP, ip)
	}
	return s
}

// PodByIP implements PodLookup.
func (s *StaticPods) PodByIP(ip string) (Pod, bool) {
	if p := s.byIP[ip]; p != nil {
		return *p, true
	}
	return Pod{}, false
}

// PodByUID implements PodLookup.
func (s *StaticPods) PodByUID(uid string) (Pod, bool) {
	if p := s.byUID[uid]; p != nil {
		return *p, true
	}
	return Pod{}, false
}

// Len returns the number of pods indexed by uid.
func (s *StaticPods) Len() int { return len(s.byUID) }

// Prometheus' Kubernetes pod discovery labels (role: pod), which discovery.kubernetes
// publishes: one target per container port, or per container without ports.
const (
	metaNamespace      = "__meta_kubernetes_namespace"
	metaPodName        = "__meta_kubernetes_pod_name"
	metaPodUID         = "__meta_kubernetes_pod_uid"
	metaPodIP          = "__meta_kubernetes_pod_ip"
	metaHostIP         = "__meta_kubernetes_pod_host_ip"
	metaNodeName       = "__meta_kubernetes_pod_node_name"
	metaContainerName  = "__meta_kubernetes_pod_container_name"
	metaContainerID    = "__meta_kubernetes_pod_container_id"
	metaInit           = "__meta_kubernetes_pod_container_init"
	metaControllerKind = "__meta_kubernetes_pod_controller_kind"
	metaControllerName = "__meta_kubernetes_pod_controller_name"
)

// PodsFromTargets folds pod targets of Prometheus' Kubernetes discovery into pods. Targets
// of other roles (no pod uid) are skipped.
func PodsFromTargets(ts pipeline.Targets) []Pod {
	byUID := map[string]int{}
	var pods []Pod
	for _, t := range ts {
		uid := string(t[metaPodUID])
		if uid == "" {
			continue
		}
		i, ok := byUID[uid]
		if !ok {
			ip := string(t[metaPodIP])
			i = len(pods)
			byUID[uid] = i
			pods = append(pods, Pod{
				UID:            uid,
				Name:           string(t[metaPodName]),
				Namespace:      string(t[metaNamespace]),
				NodeName:       string(t[metaNodeName]),
				IP:             ip,
				HostNetwork:    ip != "" && ip == string(t[metaHostIP]),
				ControllerKind: string(t[metaControllerKind]),
				ControllerName: string(t[metaControllerName]),
			})
		}
		name := string(t[metaContainerName])
		if name == "" || t[metaInit] == "true" {
			continue
		}
		if !hasContainer(pods[i].Containers, name) {
			pods[i].Containers = append(pods[i].Containers, Container{Name: name, ID: trimRuntime(string(t[metaContainerID]))})
		}
	}
	return pods
}

func hasContainer(cs []Container, name string) bool {
	for _, c := range cs {
		if c.Name == name {
			return true
		}
	}
	return false
}

// trimRuntime removes the runtime prefix of a container id ("containerd://abc" → "abc").
func trimRuntime(id string) string {
	if i := strings.Index(id, "://"); i >= 0 {
		return id[i+3:]
	}
	return id
}

// targetsLookup is a PodLookup over the targets a discovery component publishes.
type targetsLookup struct {
	view pipeline.TargetsView
	mu   sync.RWMutex
	pods *StaticPods
}

func newTargetsLookup(view pipeline.TargetsView) *targetsLookup {
	l := &targetsLookup{view: view, pods: NewStaticPods()}
	l.refresh()
	return l
}

func (l *targetsLookup) refresh() int {
	pods := NewStaticPods(PodsFromTargets(l.view.Get())...)
	l.mu.Lock()
	l.pods = pods
	l.mu.Unlock()
	return pods.Len()
}

func (l *targetsLookup) current() *StaticPods {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.pods
}

func (l *targetsLookup) PodByIP(ip string) (Pod, bool)   { return l.current().PodByIP(ip) }
func (l *targetsLookup) PodByUID(uid string) (Pod, bool) { return l.current().PodByUID(uid) }
