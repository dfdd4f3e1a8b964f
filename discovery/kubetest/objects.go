package kubetest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
)

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// CreateNamespace creates a namespace (an existing one is fine).
func (s *Server) CreateNamespace(t testing.TB, name string) {
	t.Helper()
	_, err := s.Admin.CoreV1().Namespaces().Create(ctx(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// Node describes a node to create.
type Node struct {
	Name   string
	Labels map[string]string
	// InternalIP is the node's address (default 127.0.0.1).
	InternalIP string
	// KubeletPort is status.daemonEndpoints.kubeletEndpoint.port (default 10250).
	KubeletPort int32
}

// CreateNode creates a Ready node and sets its status (addresses, kubelet port).
func (s *Server) CreateNode(t testing.TB, n Node) *corev1.Node {
	t.Helper()
	if n.InternalIP == "" {
		n.InternalIP = "127.0.0.1"
	}
	if n.KubeletPort == 0 {
		n.KubeletPort = 10250
	}
	node, err := s.Admin.CoreV1().Nodes().Create(ctx(t), &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: n.Labels},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create node %s: %v", n.Name, err)
	}
	node.Status = corev1.NodeStatus{
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: n.InternalIP},
			{Type: corev1.NodeHostName, Address: n.Name},
		},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: n.KubeletPort}},
		Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: corev1.ConditionTrue,
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now(),
		}},
	}
	node, err = s.Admin.CoreV1().Nodes().UpdateStatus(ctx(t), node, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("node %s status: %v", n.Name, err)
	}
	return node
}

// DeleteNode deletes a node.
func (s *Server) DeleteNode(t testing.TB, name string) {
	t.Helper()
	if err := s.Admin.CoreV1().Nodes().Delete(ctx(t), name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("delete node %s: %v", name, err)
	}
}

// PodStatus is the status a test gives a pod.
type PodStatus struct {
	PodIP  string
	HostIP string
	// Phase defaults to Running.
	Phase corev1.PodPhase
	// Ready sets the PodReady condition (and every container ready).
	Ready bool
}

// CreatePod creates pod (automountServiceAccountToken is turned off: no controller mints
// tokens) and, when status is not nil, sets its status through the status subresource, as
// a kubelet would.
func (s *Server) CreatePod(t testing.TB, pod *corev1.Pod, status *PodStatus) *corev1.Pod {
	t.Helper()
	pod = pod.DeepCopy()
	pod.Spec.AutomountServiceAccountToken = ptr.To(false)
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Image == "" {
			pod.Spec.Containers[i].Image = "registry.example/" + pod.Spec.Containers[i].Name + ":1"
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Image == "" {
			pod.Spec.InitContainers[i].Image = "registry.example/" + pod.Spec.InitContainers[i].Name + ":1"
		}
	}
	created, err := s.Admin.CoreV1().Pods(pod.Namespace).Create(ctx(t), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s/%s: %v", pod.Namespace, pod.Name, err)
	}
	if status == nil {
		return created
	}
	return s.SetPodStatus(t, created, *status)
}

// SetPodStatus replaces a pod's status.
func (s *Server) SetPodStatus(t testing.TB, pod *corev1.Pod, st PodStatus) *corev1.Pod {
	t.Helper()
	pod = pod.DeepCopy()
	if st.Phase == "" {
		st.Phase = corev1.PodRunning
	}
	ready := corev1.ConditionFalse
	if st.Ready {
		ready = corev1.ConditionTrue
	}
	now := metav1.Now()
	pod.Status = corev1.PodStatus{
		Phase:     st.Phase,
		HostIP:    st.HostIP,
		PodIP:     st.PodIP,
		StartTime: &now,
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: ready, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: ready, LastTransitionTime: now},
		},
	}
	if st.HostIP != "" {
		pod.Status.HostIPs = []corev1.HostIP{{IP: st.HostIP}}
	}
	if st.PodIP != "" {
		pod.Status.PodIPs = []corev1.PodIP{{IP: st.PodIP}}
	}
	for i, c := range pod.Spec.Containers {
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: c.Image, Ready: st.Ready,
			ContainerID: fmt.Sprintf("containerd://%s-%d", pod.Name, i),
			State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	updated, err := s.Admin.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx(t), pod, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("pod %s/%s status: %v", pod.Namespace, pod.Name, err)
	}
	return updated
}

// DeletePod deletes a pod at once (grace period 0), as if its kubelet had confirmed.
func (s *Server) DeletePod(t testing.TB, namespace, name string) {
	t.Helper()
	err := s.Admin.CoreV1().Pods(namespace).Delete(ctx(t), name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("delete pod %s/%s: %v", namespace, name, err)
	}
}

// CreateService creates a service.
func (s *Server) CreateService(t testing.TB, svc *corev1.Service) *corev1.Service {
	t.Helper()
	created, err := s.Admin.CoreV1().Services(svc.Namespace).Create(ctx(t), svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create service %s/%s: %v", svc.Namespace, svc.Name, err)
	}
	return created
}

// CreateEndpoints creates an Endpoints object (no controller does it here).
func (s *Server) CreateEndpoints(t testing.TB, ep *corev1.Endpoints) *corev1.Endpoints {
	t.Helper()
	//nolint:staticcheck // Endpoints are deprecated in favour of EndpointSlices but still served and discovered.
	created, err := s.Admin.CoreV1().Endpoints(ep.Namespace).Create(ctx(t), ep, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create endpoints %s/%s: %v", ep.Namespace, ep.Name, err)
	}
	return created
}

// CreateEndpointSlice creates an EndpointSlice (no controller does it here).
func (s *Server) CreateEndpointSlice(t testing.TB, es *discoveryv1.EndpointSlice) *discoveryv1.EndpointSlice {
	t.Helper()
	created, err := s.Admin.DiscoveryV1().EndpointSlices(es.Namespace).Create(ctx(t), es, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create endpointslice %s/%s: %v", es.Namespace, es.Name, err)
	}
	return created
}

// ApplyFile creates every object of a multi-document YAML file (ServiceAccounts, RBAC
// objects, namespaces, pods, services, ...); objects that exist are left as they are.
func (s *Server) ApplyFile(t testing.TB, path string) []runtime.Object {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	objs, err := decodeAll(data)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	for _, o := range objs {
		if err := s.create(t, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("%s: create %T: %v", path, o, err)
		}
	}
	return objs
}

func decodeAll(data []byte) ([]runtime.Object, error) {
	r := utilyaml.NewYAMLReader(bufioReader(data))
	var out []runtime.Object
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(doc)) == 0 || isComment(doc) {
			continue
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, obj)
	}
}

func isComment(doc []byte) bool {
	for _, line := range bytes.Split(doc, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' {
			return false
		}
	}
	return true
}

func (s *Server) create(t testing.TB, o runtime.Object) error {
	c := ctx(t)
	opts := metav1.CreateOptions{}
	switch o := o.(type) {
	case *corev1.Namespace:
		_, err := s.Admin.CoreV1().Namespaces().Create(c, o, opts)
		return err
	case *corev1.ServiceAccount:
		s.CreateNamespace(t, o.Namespace)
		_, err := s.Admin.CoreV1().ServiceAccounts(o.Namespace).Create(c, o, opts)
		return err
	case *rbacv1.ClusterRole:
		_, err := s.Admin.RbacV1().ClusterRoles().Create(c, o, opts)
		return err
	case *rbacv1.ClusterRoleBinding:
		_, err := s.Admin.RbacV1().ClusterRoleBindings().Create(c, o, opts)
		return err
	case *rbacv1.Role:
		_, err := s.Admin.RbacV1().Roles(o.Namespace).Create(c, o, opts)
		return err
	case *rbacv1.RoleBinding:
		_, err := s.Admin.RbacV1().RoleBindings(o.Namespace).Create(c, o, opts)
		return err
	default:
		return fmt.Errorf("kubetest: cannot create %T", o)
	}
}

// Token mints a token for a service account through the TokenRequest API.
func (s *Server) Token(t testing.TB, namespace, serviceAccount string) string {
	t.Helper()
	tr, err := s.Admin.CoreV1().ServiceAccounts(namespace).CreateToken(ctx(t), serviceAccount, &authnv1.TokenRequest{
		Spec: authnv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for %s/%s: %v", namespace, serviceAccount, err)
	}
	return tr.Status.Token
}

// TokenForClusterRole creates a service account named name in namespace, binds it to the
// ClusterRole clusterRole and returns a token for it. The account's user name is
// "system:serviceaccount:<namespace>:<name>".
func (s *Server) TokenForClusterRole(t testing.TB, namespace, name, clusterRole string) string {
	t.Helper()
	s.CreateNamespace(t, namespace)
	_, err := s.Admin.CoreV1().ServiceAccounts(namespace).Create(ctx(t), &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create service account: %v", err)
	}
	_, err = s.Admin.RbacV1().ClusterRoleBindings().Create(ctx(t), &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: namespace + "-" + name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: namespace}},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("bind cluster role: %v", err)
	}
	return s.Token(t, namespace, name)
}

// ServiceAccountUser is the user name the API server gives a service account's tokens.
func ServiceAccountUser(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}

func bufioReader(data []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(data)) }
