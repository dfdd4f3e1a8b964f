package deploytest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sondehq/sonde/exporters/backendtest"
	"github.com/sondehq/sonde/exporters/loki/write/lokitest"
	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
)

// No kind here (no container runtime): these tests check the quick start's files as far as
// possible without one — the stack's configurations by the real backends' own checkers,
// every manifest by a real API server, and the cross references between them.

func kindDir(t testing.TB) string { return filepath.Join(repoRoot(t), "deploy", "kind") }

// kindStack returns the objects of deploy/kind/stack, in the kustomization's order.
func kindStack(t testing.TB) []*unstructured.Unstructured {
	t.Helper()
	dir := filepath.Join(kindDir(t), "stack")
	var k struct {
		Resources []string `yaml:"resources"`
	}
	require.NoError(t, yaml.Unmarshal(mustRead(t, filepath.Join(dir, "kustomization.yaml")), &k))
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	require.NoError(t, err)
	require.Len(t, k.Resources, len(files)-1, "the kustomization lists every file of deploy/kind/stack")
	var objs []*unstructured.Unstructured
	for _, f := range k.Resources {
		objs = append(objs, decodeObjects(t, mustRead(t, filepath.Join(dir, f)))...)
	}
	return objs
}

// configMapData returns a key of a ConfigMap of the stack.
func configMapData(t testing.TB, objs []*unstructured.Unstructured, name, key string) string {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == "ConfigMap" && o.GetName() == name {
			v, ok, err := unstructured.NestedString(o.Object, "data", key)
			require.NoError(t, err)
			require.True(t, ok, "ConfigMap %s has no %s", name, key)
			return v
		}
	}
	t.Fatalf("no ConfigMap %s", name)
	return ""
}

// TestKindStackConfigs checks the stack's configurations with the backends' own checkers:
// promtool (Debian package prometheus), and the Loki and Tempo binaries of `make deps`.
func TestKindStackConfigs(t *testing.T) {
	backendtest.SkipShort(t, "promtool, Loki and Tempo")
	objs := kindStack(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found (Debian package prometheus): run make deps")
	}
	for _, c := range []struct {
		name string
		cmd  []string
	}{
		{"prometheus", []string{promtool, "check", "config", "--syntax-only",
			write("prometheus.yml", configMapData(t, objs, "prometheus-config", "prometheus.yml"))}},
		{"loki", []string{lokitest.Binary(t), "-verify-config",
			"-config.file=" + write("loki.yaml", configMapData(t, objs, "loki-config", "loki.yaml"))}},
		{"tempo", []string{oteltest.TempoBinary(t), "-config.verify",
			"-config.file=" + write("tempo.yaml", configMapData(t, objs, "tempo-config", "tempo.yaml"))}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := exec.Command(c.cmd[0], c.cmd[1:]...).CombinedOutput()
			require.NoError(t, err, "%s", out)
		})
	}
}

// TestKindStackWiring checks the references between the quick start's files: Grafana's data
// sources point at the stack's Services, its dashboards come from deploy/dashboards, the
// kind cluster publishes exactly the stack's NodePorts, and the sonde values use the stack.
func TestKindStackWiring(t *testing.T) {
	objs := kindStack(t)
	services := map[string]map[string]int64{} // name -> port name -> port
	nodePorts := map[int64]bool{}
	for _, o := range objs {
		if o.GetKind() != "Service" {
			continue
		}
		require.Equal(t, "observability", o.GetNamespace())
		services[o.GetName()] = map[string]int64{}
		ports, _, _ := unstructured.NestedSlice(o.Object, "spec", "ports")
		for _, p := range ports {
			p := p.(map[string]any)
			services[o.GetName()][p["name"].(string)] = p["port"].(int64)
			if np, ok := p["nodePort"].(int64); ok {
				nodePorts[np] = true
			}
		}
	}

	var ds struct {
		Datasources []struct {
			UID, Type, URL string
		} `yaml:"datasources"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(configMapData(t, objs, "grafana-provisioning", "datasources.yaml")), &ds))
	types := map[string]bool{}
	for _, d := range ds.Datasources {
		types[d.Type] = true
		host, port, ok := strings.Cut(strings.TrimPrefix(d.URL, "http://"), ":")
		require.True(t, ok, d.URL)
		svc := strings.TrimSuffix(host, ".observability.svc")
		require.Contains(t, services, svc, "data source %s", d.UID)
		require.Equal(t, port, strconv.FormatInt(services[svc]["http"], 10), "data source %s", d.UID)
	}
	for _, typ := range []string{"prometheus", "loki", "tempo"} {
		require.True(t, types[typ], "a %s data source", typ)
	}

	// The dashboards' provider path is where the Deployment mounts sonde-dashboards, and the
	// home dashboard is one of deploy/dashboards.
	var prov struct {
		Providers []struct {
			Options struct{ Path string } `yaml:"options"`
		} `yaml:"providers"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(configMapData(t, objs, "grafana-provisioning", "dashboards.yaml")), &prov))
	require.Len(t, prov.Providers, 1)
	var grafana *unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "Deployment" && o.GetName() == "grafana" {
			grafana = o
		}
	}
	require.NotNil(t, grafana)
	pod := nested(t, grafana.Object, "spec", "template").(map[string]any)
	c := container(t, pod, "grafana")
	require.Equal(t, prov.Providers[0].Options.Path, volumeMounts(c)["dashboards"]["mountPath"])
	require.Equal(t, "sonde-dashboards", nested(t, volumes(pod)["dashboards"], "configMap", "name"))
	home := envByName(c)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]["value"].(string)
	require.Equal(t, prov.Providers[0].Options.Path, filepath.Dir(home))
	require.Contains(t, dashboardFiles(t), filepath.Base(home))
	require.Contains(t, string(mustRead(t, filepath.Join(kindDir(t), "README.md"))),
		"kubectl -n observability create configmap sonde-dashboards --from-file=deploy/dashboards/",
		"the README creates the ConfigMap Grafana mounts")

	// kind publishes the stack's NodePorts, and only those.
	var cluster struct {
		Kind  string `yaml:"kind"`
		Nodes []struct {
			Role              string `yaml:"role"`
			ExtraPortMappings []struct {
				ContainerPort int64 `yaml:"containerPort"`
				HostPort      int64 `yaml:"hostPort"`
			} `yaml:"extraPortMappings"`
		} `yaml:"nodes"`
	}
	require.NoError(t, yaml.Unmarshal(mustRead(t, filepath.Join(kindDir(t), "kind-config.yaml")), &cluster))
	require.Equal(t, "Cluster", cluster.Kind)
	var mapped []int64
	for _, n := range cluster.Nodes {
		for _, m := range n.ExtraPortMappings {
			require.True(t, nodePorts[m.ContainerPort], "kind maps %d, which is no NodePort of the stack", m.ContainerPort)
			mapped = append(mapped, m.ContainerPort)
		}
	}
	require.NotEmpty(t, mapped)
	for np := range nodePorts {
		if np != 30320 { // Tempo's query port: Grafana reaches it inside the cluster
			require.Contains(t, mapped, np)
		}
	}
}

// checkKind: the quick start's chart values send everything to the stack.
func checkKind(t *testing.T, r rendered) {
	cfg := r.config(t)
	require.Contains(t, cfg, "http://prometheus.observability.svc:9090/api/v1/write")
	require.Contains(t, cfg, "http://loki.observability.svc:3100/loki/api/v1/push")
	c := container(t, nested(t, r.get(t, "DaemonSet", "sonde").Object, "spec", "template").(map[string]any), "sonde")
	require.Equal(t, "sonde:dev", c["image"], "the image the README builds and loads into kind")
	require.Equal(t, "tempo.observability.svc:4317", envByName(c)["SONDE_OTLP_ENDPOINT"]["value"])
}

// TestAPIServerAcceptsKindStack applies the quick start's stack to a real API server.
func TestAPIServerAcceptsKindStack(t *testing.T) {
	c := newCluster(t)
	objs := kindStack(t)
	require.Equal(t, "Namespace", objs[0].GetKind())
	require.NoError(t, c.apply(t, objs[0], true))
	require.NoError(t, c.apply(t, objs[0], false))
	c.applyAll(t, objs)
}
