package unix

import (
	"os"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
)

// TestNodeExporterVersion: node_exporter_build_info reports the node_exporter of go.mod.
func TestNodeExporterVersion(t *testing.T) {
	gomod, err := os.ReadFile("../../../../go.mod")
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^\s*github\.com/prometheus/node_exporter v(\S+)`).FindSubmatch(gomod)
	require.NotNil(t, m, "node_exporter in go.mod")
	require.Equal(t, string(m[1]), NodeExporterVersion, "update NodeExporterVersion with go.mod")
}

// TestBuildInfoSeries: node_exporter_build_info is served as node_exporter serves it (one
// gauge at 1 with node_exporter's labels), whichever collectors run and after an update,
// so that label_values(node_exporter_build_info{job=...}, instance), the instance picker of
// the node-mixin's "Node Exporter / USE Method" and "Nodes" dashboards, lists the host:
// job and instance are the published target's (TestTargets, and the daemonset preset's
// relabelling in config's TestPresetJobNames).
func TestBuildInfoSeries(t *testing.T) {
	want := map[string]string{
		"version": NodeExporterVersion, "revision": "", "branch": "", "tags": "",
		"goversion": runtime.Version(), "goos": runtime.GOOS, "goarch": runtime.GOARCH,
	}
	check := func(t *testing.T, body string) {
		t.Helper()
		fams := parse(t, body)
		fam, ok := fams["node_exporter_build_info"]
		require.True(t, ok, "no node_exporter_build_info in\n%s", body)
		require.Equal(t, dto.MetricType_GAUGE, fam.GetType())
		require.Len(t, fam.GetMetric(), 1)
		m := fam.GetMetric()[0]
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		require.Equal(t, want, got)
		require.Equal(t, 1.0, m.GetGauge().GetValue())
	}
	root := fixtureRoot(t)
	r := start(t, "prometheus.exporter.unix/buildinfo", fixtureArgs(root, "loadavg"))
	check(t, r.waitServing(t))

	// Another collector set: a new registry, the same series once.
	require.NoError(t, r.c.Update(fixtureArgs(root, "meminfo", "uname")))
	require.Eventually(t, func() bool {
		_, body := r.get(t)
		return strings.Contains(body, "node_memory_MemTotal_bytes")
	}, defaultWait, 10*time.Millisecond)
	_, body := r.get(t)
	check(t, body)
}
