package kubernetes

import (
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/sondehq/sonde/discovery/kubetest"
	"github.com/sondehq/sonde/internal/kube"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// cluster is a small cluster of objects in a namespace of its own: two nodes, a web pod on
// the first (two containers, ports 8080 and 9090, an init container), a db pod on the
// second, a pod with no IP yet, a service for web and its endpoints and endpointslice.
type cluster struct {
	s          *kubetest.Server
	ns         string
	n1, n2     string
	nodeLabel  string // label selector matching both nodes (and no other test's)
	webIP      string
	dbIP       string
	webPodName string
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	s := kubetest.Shared(t)
	c := &cluster{s: s, ns: kubetest.Unique("disc"), webIP: "10.1.0.1", dbIP: "10.1.0.2", webPodName: "web"}
	c.n1, c.n2 = c.ns+"-n1", c.ns+"-n2"
	c.nodeLabel = "sonde-test=" + c.ns
	s.CreateNamespace(t, c.ns)
	s.CreateNode(t, kubetest.Node{Name: c.n1, Labels: map[string]string{"sonde-test": c.ns}, KubeletPort: 10250})
	s.CreateNode(t, kubetest.Node{Name: c.n2, Labels: map[string]string{"sonde-test": c.ns}, KubeletPort: 10251})
	s.CreatePod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: c.ns,
			Labels:      map[string]string{"app": "web", "app.kubernetes.io/name": "web"},
			Annotations: map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "9090"}},
		Spec: corev1.PodSpec{
			NodeName: c.n1,
			Containers: []corev1.Container{
				{Name: "app", Ports: []corev1.ContainerPort{
					{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
					{Name: "metrics", ContainerPort: 9090, Protocol: corev1.ProtocolTCP},
				}},
				{Name: "sidecar"},
			},
			InitContainers: []corev1.Container{{Name: "init"}},
		},
	}, &kubetest.PodStatus{PodIP: c.webIP, HostIP: "127.0.0.1", Ready: true})
	s.CreatePod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: c.ns, Labels: map[string]string{"app": "db"}},
		Spec: corev1.PodSpec{NodeName: c.n2, Containers: []corev1.Container{
			{Name: "db", Ports: []corev1.ContainerPort{{Name: "pg", ContainerPort: 5432, Protocol: corev1.ProtocolTCP}}},
		}},
	}, &kubetest.PodStatus{PodIP: c.dbIP, HostIP: "127.0.0.2", Ready: false})
	s.CreatePod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "pending", Namespace: c.ns},
		Spec:       corev1.PodSpec{NodeName: c.n1, Containers: []corev1.Container{{Name: "x"}}},
	}, nil)
	s.CreateService(t, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: c.ns, Labels: map[string]string{"app": "web"},
			Annotations: map[string]string{"prometheus.io/scrape": "true"}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}},
		},
	})
	podRef := &corev1.ObjectReference{Kind: "Pod", Namespace: c.ns, Name: "web"}
	s.CreateEndpoints(t, &corev1.Endpoints{ //nolint:staticcheck // deprecated, still discovered
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: c.ns},
		Subsets: []corev1.EndpointSubset{{ //nolint:staticcheck
			Addresses: []corev1.EndpointAddress{{IP: c.webIP, NodeName: ptr.To(c.n1), TargetRef: podRef}},
			Ports:     []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}}, //nolint:staticcheck
		}},
	})
	s.CreateEndpointSlice(t, &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: c.ns,
			Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses: []string{c.webIP}, NodeName: ptr.To(c.n1), TargetRef: podRef,
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
		}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(corev1.ProtocolTCP)}},
	})
	return c
}

// args returns arguments for role in the cluster's namespace, with a token of its own
// (user) so that the audit log tells its requests apart.
func (c *cluster) args(t *testing.T, role Role) (*Arguments, string) {
	t.Helper()
	sa := kubetest.Unique("sa")
	token := c.s.TokenForClusterRole(t, c.ns, sa, "cluster-admin")
	return c.argsWithToken(role, token), kubetest.ServiceAccountUser(c.ns, sa)
}

// argsWithToken returns new arguments for role with token. Every component gets arguments
// of its own, as from the config loader (Validate completes them in place).
func (c *cluster) argsWithToken(role Role, token string) *Arguments {
	a := DefaultArguments()
	a.Role = role
	a.ClientArgs = clientArgs(c.s, token)
	if role != RoleNode {
		a.Namespaces.Names = []string{c.ns}
	} else {
		a.Selectors = []Selector{{Role: RoleNode, Label: c.nodeLabel}}
	}
	return a
}

// requireSubset checks that every label of want is in got with the same value.
func requireSubset(t *testing.T, want, got model.LabelSet) {
	t.Helper()
	require.NotNil(t, got, "target missing")
	for k, v := range want {
		require.Equalf(t, string(v), string(got[k]), "label %s of %s", k, got)
	}
}

func TestRoles(t *testing.T) {
	c := newCluster(t)
	cache := kube.NewCache(quietLogger())
	web := func(port string) string { return c.webIP + ":" + port }

	t.Run("pod", func(t *testing.T) {
		args, _ := c.args(t, RolePod)
		r := start(t, cache, args)
		// web: two ports of app, the port-less sidecar and init container (address without
		// port, as in Prometheus); db; not the pod without an IP.
		ts := r.waitFor(t, "pods", hasAddresses(web("8080"), web("9090"), c.webIP, c.webIP, c.dbIP+":5432"))
		requireSubset(t, model.LabelSet{
			"__meta_kubernetes_namespace":                                model.LabelValue(c.ns),
			"__meta_kubernetes_pod_name":                                 "web",
			"__meta_kubernetes_pod_ip":                                   model.LabelValue(c.webIP),
			"__meta_kubernetes_pod_host_ip":                              "127.0.0.1",
			"__meta_kubernetes_pod_node_name":                            model.LabelValue(c.n1),
			"__meta_kubernetes_pod_phase":                                "Running",
			"__meta_kubernetes_pod_ready":                                "true",
			"__meta_kubernetes_pod_container_name":                       "app",
			"__meta_kubernetes_pod_container_init":                       "false",
			"__meta_kubernetes_pod_container_id":                         "containerd://web-0",
			"__meta_kubernetes_pod_container_image":                      "registry.example/app:1",
			"__meta_kubernetes_pod_container_port_name":                  "metrics",
			"__meta_kubernetes_pod_container_port_number":                "9090",
			"__meta_kubernetes_pod_container_port_protocol":              "TCP",
			"__meta_kubernetes_pod_label_app":                            "web",
			"__meta_kubernetes_pod_labelpresent_app":                     "true",
			"__meta_kubernetes_pod_label_app_kubernetes_io_name":         "web",
			"__meta_kubernetes_pod_annotation_prometheus_io_scrape":      "true",
			"__meta_kubernetes_pod_annotationpresent_prometheus_io_port": "true",
			AnnotatedPortTargetLabel:                                     "true",
		}, byAddress(ts, web("9090")))
		require.NotContains(t, byAddress(ts, web("8080")), AnnotatedPortTargetLabel)
		requireSubset(t, model.LabelSet{"__meta_kubernetes_pod_ready": "false", "__meta_kubernetes_pod_node_name": model.LabelValue(c.n2)},
			byAddress(ts, c.dbIP+":5432"))
	})

	t.Run("pod on one node", func(t *testing.T) {
		args, user := c.args(t, RolePod)
		args.Node = c.n1
		r := start(t, cache, args)
		r.waitFor(t, "pods of n1", hasAddresses(web("8080"), web("9090"), c.webIP, c.webIP))
		requireNodeFiltered(t, c.s, user, "pods", "spec.nodeName="+c.n1)
	})

	t.Run("pod with attached node metadata", func(t *testing.T) {
		args, _ := c.args(t, RolePod)
		args.Node = c.n2
		args.AttachMetadata.Node = true
		r := start(t, cache, args)
		ts := r.waitFor(t, "db with node labels", hasAddresses(c.dbIP+":5432"))
		requireSubset(t, model.LabelSet{"__meta_kubernetes_node_name": model.LabelValue(c.n2), "__meta_kubernetes_node_label_sonde_test": model.LabelValue(c.ns)}, ts[0])
	})

	t.Run("node", func(t *testing.T) {
		args, _ := c.args(t, RoleNode)
		r := start(t, cache, args)
		ts := r.waitFor(t, "nodes", hasAddresses("127.0.0.1:10250", "127.0.0.1:10251"))
		requireSubset(t, model.LabelSet{
			"__meta_kubernetes_node_name": model.LabelValue(c.n1),
			"instance":                    model.LabelValue(c.n1),
			"__meta_kubernetes_node_address_InternalIP":      "127.0.0.1",
			"__meta_kubernetes_node_address_Hostname":        model.LabelValue(c.n1),
			"__meta_kubernetes_node_label_sonde_test":        model.LabelValue(c.ns),
			"__meta_kubernetes_node_labelpresent_sonde_test": "true",
			"__meta_kubernetes_node_condition_ready":         "true",
		}, byAddress(ts, "127.0.0.1:10250"))
	})

	t.Run("node restricted to itself", func(t *testing.T) {
		args, user := c.args(t, RoleNode)
		args.Node = c.n2
		r := start(t, cache, args)
		r.waitFor(t, "n2 only", hasAddresses("127.0.0.1:10251"))
		requireNodeFiltered(t, c.s, user, "nodes", "metadata.name="+c.n2)
	})

	t.Run("service", func(t *testing.T) {
		args, _ := c.args(t, RoleService)
		r := start(t, cache, args)
		ts := r.waitFor(t, "service", hasAddresses("web."+c.ns+".svc:80"))
		requireSubset(t, model.LabelSet{
			"__meta_kubernetes_namespace":                               model.LabelValue(c.ns),
			"__meta_kubernetes_service_name":                            "web",
			"__meta_kubernetes_service_port_name":                       "http",
			"__meta_kubernetes_service_port_number":                     "80",
			"__meta_kubernetes_service_port_protocol":                   "TCP",
			"__meta_kubernetes_service_type":                            "ClusterIP",
			"__meta_kubernetes_service_annotation_prometheus_io_scrape": "true",
		}, ts[0])
	})

	endpointLabels := func(role Role) model.LabelSet {
		ls := model.LabelSet{
			"__meta_kubernetes_namespace":          model.LabelValue(c.ns),
			"__meta_kubernetes_service_name":       "web",
			"__meta_kubernetes_pod_name":           "web",
			"__meta_kubernetes_pod_container_name": "app",
			"__meta_kubernetes_pod_node_name":      model.LabelValue(c.n1),
			"__meta_kubernetes_pod_label_app":      "web",
		}
		if role == RoleEndpoints {
			ls["__meta_kubernetes_endpoints_name"] = "web"
			ls["__meta_kubernetes_endpoint_port_name"] = "http"
			ls["__meta_kubernetes_endpoint_ready"] = "true"
			ls["__meta_kubernetes_endpoint_node_name"] = model.LabelValue(c.n1)
		} else {
			ls["__meta_kubernetes_endpointslice_name"] = "web-1"
			ls["__meta_kubernetes_endpointslice_port_name"] = "http"
			ls["__meta_kubernetes_endpointslice_endpoint_conditions_ready"] = "true"
			ls["__meta_kubernetes_endpointslice_endpoint_node_name"] = model.LabelValue(c.n1)
		}
		return ls
	}
	for _, role := range []Role{RoleEndpoints, RoleEndpointSlice} {
		t.Run(string(role), func(t *testing.T) {
			args, _ := c.args(t, role)
			r := start(t, cache, args)
			// The endpoint, and (as Prometheus does) the web pod's other container ports.
			ts := r.waitFor(t, string(role), func(ts pipeline.Targets) bool { return byAddress(ts, web("8080")) != nil })
			requireSubset(t, endpointLabels(role), byAddress(ts, web("8080")))
		})
		t.Run(string(role)+" on one node", func(t *testing.T) {
			args, user := c.args(t, role)
			args.Node = c.n2 // web runs on n1: nothing of it is kept
			r := start(t, cache, args)
			r.waitFor(t, "nothing on n2", func(ts pipeline.Targets) bool { return len(ts) == 0 })
			args2, _ := c.args(t, role)
			args2.Node = c.n1
			require.NoError(t, r.c.Update(args2))
			ts := r.waitFor(t, "web on n1", func(ts pipeline.Targets) bool { return byAddress(ts, web("8080")) != nil })
			requireSubset(t, endpointLabels(role), byAddress(ts, web("8080")))
			// The pods the endpoints roles read are node-filtered too.
			requireNodeFiltered(t, c.s, user, "pods", "spec.nodeName="+c.n2)
		})
	}

	require.Empty(t, cache.Informers(), "every informer stopped with its last user")
}

// requireNodeFiltered checks the API server's audit log: user made list or watch requests
// for resource, and every one of them carried the field selector want.
func requireNodeFiltered(t *testing.T, s *kubetest.Server, user, resource, want string) {
	t.Helper()
	n := 0
	for _, e := range s.AuditEvents(t, user) {
		if e.Resource() != resource || (e.Verb != "list" && e.Verb != "watch") {
			continue
		}
		u, err := url.Parse(e.RequestURI)
		require.NoError(t, err)
		require.Equalf(t, want, u.Query().Get("fieldSelector"), "%s %s", e.Verb, e.RequestURI)
		n++
	}
	require.NotZero(t, n, "no %s list/watch by %s in the audit log", resource, user)
}

func TestSharedInformers(t *testing.T) {
	c := newCluster(t)
	cache := kube.NewCache(quietLogger())
	sa := kubetest.Unique("sa")
	token := c.s.TokenForClusterRole(t, c.ns, sa, "cluster-admin")
	user := kubetest.ServiceAccountUser(c.ns, sa)
	mk := func(role Role) *Arguments {
		a := c.argsWithToken(role, token)
		a.Node = c.n1
		return a
	}
	want := hasAddresses(c.webIP+":8080", c.webIP+":9090", c.webIP, c.webIP)

	a := start(t, cache, mk(RolePod))
	b := start(t, cache, mk(RolePod))
	// endpointslice with the same node restriction needs the same pods: same informer.
	e := start(t, cache, mk(RoleEndpointSlice))
	a.waitFor(t, "a", want)
	b.waitFor(t, "b", want)
	e.waitFor(t, "endpointslices", func(ts pipeline.Targets) bool { return byAddress(ts, c.webIP+":8080") != nil })

	podKey := "api_server " + kube.InformerKey{Resource: kube.Pods, Namespace: c.ns, FieldSelector: "spec.nodeName=" + c.n1}.String()
	require.Equal(t, 3, cache.Informers()[podKey], "one pod informer, three users: %v", cache.Informers())
	lists := 0
	for _, ev := range c.s.AuditEvents(t, user) {
		if ev.Resource() == "pods" && ev.Verb == "list" {
			lists++
		}
	}
	require.LessOrEqual(t, lists, 1, "the pods were listed once for three components")

	a.stop()
	require.Equal(t, 2, cache.Informers()[podKey])
	// The remaining users keep their targets and see changes.
	c.s.DeletePod(t, c.ns, "web")
	b.waitFor(t, "web gone", func(ts pipeline.Targets) bool { return len(ts) == 0 })
	b.stop()
	e.stop()
	require.Empty(t, cache.Informers())
}

func TestUpdateKeepsSharedInformers(t *testing.T) {
	c := newCluster(t)
	cache := kube.NewCache(quietLogger())
	args, _ := c.args(t, RolePod)
	args.Node = c.n1
	r := start(t, cache, args)
	r.waitFor(t, "n1", hasAddresses(c.webIP+":8080", c.webIP+":9090", c.webIP, c.webIP))

	moved := c.argsWithToken(RolePod, string(args.HTTPClientConfig.Authorization.Credentials))
	moved.Node = c.n2
	require.NoError(t, r.c.Update(moved))
	r.waitFor(t, "n2", hasAddresses(c.dbIP+":5432"))
	require.Len(t, cache.Informers(), 1, "the n1 informer stopped: %v", cache.Informers())
}

func TestUnreachableAPIServerIsUnhealthyNotFatal(t *testing.T) {
	defer func(d time.Duration) { healthCheckInterval = d }(healthCheckInterval)
	healthCheckInterval = 100 * time.Millisecond
	args := DefaultArguments()
	u, err := url.Parse("https://127.0.0.1:1") // nothing listens there
	require.NoError(t, err)
	args.APIServer.URL = u
	host := pipelinetest.NewHost()
	opts := pipelinetest.Options(t, "discovery.kubernetes/down", host)
	require.NoError(t, args.Validate())
	comp, err := New(opts, args)
	require.NoError(t, err)
	host.Export(opts.ID, comp)
	done := runInBackground(t, comp)
	require.Eventually(t, func() bool {
		st := opts.Health.Get()
		return st.State == pipeline.HealthUnhealthy && st.Message != ""
	}, time.Minute, 50*time.Millisecond)
	require.Contains(t, opts.Health.Get().Message, "cannot reach the API server")
	stopped := time.Now()
	done()
	require.Less(t, time.Since(stopped), 5*time.Second, "stops promptly")
	require.Nil(t, host.Published(opts.ID), "nothing published before the first list")
}

func TestLifecycle(t *testing.T) {
	c := newCluster(t)
	args, _ := c.args(t, RolePod)
	args.Node = c.n1
	updated, _ := c.args(t, RoleNode)
	updated.Node = c.n1
	// Lifecycle's goroutine check also finds an informer left running in its cache.
	pipelinetest.Lifecycle(t, Registration, args, updated)
}
