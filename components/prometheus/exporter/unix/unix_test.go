package unix

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// volatile names series whose values come from the machine running the test (system
// calls, the clock, statfs of the checkout's disk), not from the fixture tree.
var volatile = regexp.MustCompile(`^node_(exporter_build_info|scrape_collector_duration_seconds|uname_info|time_seconds|time_zone_offset_seconds|filesystem_(size_bytes|free_bytes|avail_bytes|files|files_free))$`)

// stripVolatile drops the samples, HELP and TYPE lines of volatile series.
func stripVolatile(exposition string) string {
	var out strings.Builder
	for line := range strings.Lines(exposition) {
		name := line
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name = rest
		} else if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name = rest
		}
		if i := strings.IndexAny(name, "{ \n"); i >= 0 {
			name = name[:i]
		}
		if !volatile.MatchString(name) {
			out.WriteString(line)
		}
	}
	return out.String()
}

// TestGolden runs the collectors against the fixture tree and compares the exposition,
// minus volatile series, with testdata/fixture.prom (refresh with -update).
func TestGolden(t *testing.T) {
	root := fixtureRoot(t)
	r := start(t, "prometheus.exporter.unix/golden", fixtureArgs(root, goldenCollectors...))
	body := r.waitServing(t)

	// The volatile series are there; only their values are not compared.
	for _, want := range []string{`node_uname_info{`, `tags="",version="1.12.1"} 1`, `node_filesystem_size_bytes{device="/dev/dm-2",device_error="",fstype="ext4",mountpoint="/"}`, `node_time_seconds `} {
		require.Contains(t, body, want)
	}
	got := stripVolatile(body)
	golden := filepath.Join("testdata", "fixture.prom")
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	require.Equal(t, string(want), got, "exposition differs from %s (run with -update to refresh)", golden)

	// Every collector of the golden set found its data.
	fams := parse(t, body)
	for _, c := range goldenCollectors {
		require.Equal(t, 1.0, value(t, fams, "node_scrape_collector_success", map[string]string{"collector": c}), c)
	}
}

// TestDefaultCollectorsOnFixtures runs node_exporter's whole default set against the
// fixture tree, where many collectors find nothing: nothing crashes, and every default
// collector either reports node_scrape_collector_success or is named in the health
// message as not started.
func TestDefaultCollectorsOnFixtures(t *testing.T) {
	r := start(t, "prometheus.exporter.unix/defaults", fixtureArgs(fixtureRoot(t)))
	fams := parse(t, r.waitServing(t))
	reported := map[string]bool{}
	for _, m := range fams["node_scrape_collector_success"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "collector" {
				reported[l.GetValue()] = true
			}
		}
	}
	health := r.c.opts.Health.Get()
	require.Equal(t, pipeline.HealthHealthy, health.State)
	for _, c := range DefaultCollectors() {
		require.True(t, reported[c] || strings.Contains(health.Message, c), "collector %s neither ran nor was reported as not started", c)
	}
}

// TestHostPathsAndReload proves that the paths are honoured (values come from the tree
// the arguments point at) and that changing them in place takes effect even for collectors
// that open their files when built (cpu): node_exporter's collector cache is emptied.
func TestHostPathsAndReload(t *testing.T) {
	root := fixtureRoot(t)
	other := copyTree(t, root)
	writeFile(t, filepath.Join(other, "proc", "loadavg"), "9.5 0.37 0.39 1/719 19737\n")
	stat, err := os.ReadFile(filepath.Join(other, "proc", "stat"))
	require.NoError(t, err)
	writeFile(t, filepath.Join(other, "proc", "stat"),
		strings.Replace(string(stat), "cpu0 44490 ", "cpu0 54490 ", 1))

	user0 := map[string]string{"cpu": "0", "mode": "user"}
	r := start(t, "prometheus.exporter.unix/host", fixtureArgs(root, "cpu", "loadavg"))
	fams := parse(t, r.waitServing(t))
	require.Equal(t, 0.21, value(t, fams, "node_load1", nil))
	require.Equal(t, 444.9, value(t, fams, "node_cpu_seconds_total", user0)) // USER_HZ = 100

	require.NoError(t, r.c.Update(fixtureArgs(other, "cpu", "loadavg")))
	fams = parse(t, r.waitServing(t))
	require.Equal(t, 9.5, value(t, fams, "node_load1", nil))
	require.Equal(t, 544.9, value(t, fams, "node_cpu_seconds_total", user0))

	// A collector list change alone rebuilds too.
	require.NoError(t, r.c.Update(fixtureArgs(other, "loadavg")))
	fams = parse(t, r.waitServing(t))
	require.NotContains(t, fams, "node_cpu_seconds_total")
	require.NoError(t, r.stop(t))
}

// TestSettingsAreProcessWide: node_exporter's settings are global, so a second component
// with other paths is refused with an error that names the running one; the same paths
// (even with other collectors) are fine, and once the first stops the other can run.
func TestSettingsAreProcessWide(t *testing.T) {
	root := fixtureRoot(t)
	other := copyTree(t, root)

	first := start(t, "prometheus.exporter.unix/first", fixtureArgs(root, "loadavg"))
	first.waitServing(t)

	same := start(t, "prometheus.exporter.unix/same", fixtureArgs(root, "meminfo"))
	body := same.waitServing(t)
	require.Contains(t, body, "node_memory_MemTotal_bytes")
	require.NotContains(t, body, "node_load1")

	conflict := start(t, "prometheus.exporter.unix/conflict", fixtureArgs(other, "loadavg"))
	err := conflict.result(t)
	require.ErrorIs(t, err, errSettingsConflict)
	require.ErrorContains(t, err, "prometheus.exporter.unix/first")
	require.ErrorContains(t, err, "path.procfs")
	require.Equal(t, pipeline.HealthUnhealthy, conflict.c.opts.Health.Get().State)
	code, _ := conflict.get(t)
	require.Equal(t, 503, code)

	// An in-place update to other paths is refused the same way, and stops collection.
	err = same.c.Update(fixtureArgs(other, "meminfo"))
	require.ErrorIs(t, err, errSettingsConflict)
	code, _ = same.get(t)
	require.Equal(t, 503, code)
	require.Equal(t, pipeline.HealthUnhealthy, same.c.opts.Health.Get().State)
	// Arguments that fit again bring it back.
	require.NoError(t, same.c.Update(fixtureArgs(root, "meminfo")))
	require.Contains(t, same.waitServing(t), "node_memory_MemTotal_bytes")
	require.Equal(t, pipeline.HealthHealthy, same.c.opts.Health.Get().State)

	require.NoError(t, first.stop(t))
	require.NoError(t, same.stop(t))
	again := start(t, "prometheus.exporter.unix/again", fixtureArgs(other, "loadavg"))
	fams := parse(t, again.waitServing(t))
	require.Equal(t, 0.21, value(t, fams, "node_load1", nil))
}

// TestTargets checks the one published target.
func TestTargets(t *testing.T) {
	host, err := os.Hostname()
	require.NoError(t, err)
	opts := pipelinetest.Options(t, "x", pipelinetest.NewHost())
	for _, tc := range []struct {
		name          string
		job, instance string
		want          model.LabelSet
	}{
		{"defaults", "node-exporter", "", model.LabelSet{"job": "node-exporter", "instance": model.LabelValue(host)}},
		{"configured", "node", "node-a", model.LabelSet{"job": "node", "instance": "node-a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := fixtureArgs(fixtureRoot(t), "loadavg")
			a.Job, a.Instance = tc.job, tc.instance
			r := start(t, "prometheus.exporter.unix/targets", a)
			r.waitServing(t)
			want := tc.want.Clone()
			want[model.AddressLabel] = model.LabelValue(opts.ServerAddr)
			want[model.MetricsPathLabel] = "/api/v1/components/prometheus.exporter.unix/targets/metrics"
			require.Equal(t, pipeline.Targets{want}, r.host.Published("prometheus.exporter.unix/targets"))

			a2 := *a
			a2.Job = "renamed"
			require.NoError(t, r.c.Update(&a2))
			want["job"] = "renamed"
			require.Equal(t, pipeline.Targets{want}, r.host.Published("prometheus.exporter.unix/targets"))
		})
	}
}

func TestHandlerPaths(t *testing.T) {
	r := start(t, "prometheus.exporter.unix/paths", fixtureArgs(fixtureRoot(t), "loadavg"))
	r.waitServing(t)
	for path, code := range map[string]int{"/metrics": 200, "metrics": 200, "/other": 404, "/": 404} {
		rec := httptestGet(r.c.Handler(), path)
		require.Equal(t, code, rec, path)
	}
}

func TestLifecycle(t *testing.T) {
	root := fixtureRoot(t)
	updated := fixtureArgs(root, "loadavg", "meminfo")
	updated.Job = "other"
	pipelinetest.Lifecycle(t, Registration, fixtureArgs(root, "loadavg", "cpu"), updated)
}

// BenchmarkGather measures one scrape of the golden collector set against the fixtures.
func BenchmarkGather(b *testing.B) {
	r := start(b, "prometheus.exporter.unix/bench", fixtureArgs(fixtureRoot(b), goldenCollectors...))
	r.waitServing(b)
	h := r.c.Handler()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if code := httptestGet(h, "/metrics"); code != 200 {
			b.Fatal(code)
		}
	}
}

func parse(t testing.TB, exposition string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(exposition))
	require.NoError(t, err)
	return fams
}

// value returns the value of the one series of name whose labels include want.
func value(t testing.TB, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	fam, ok := fams[name]
	require.True(t, ok, "no %s", name)
	var found []float64
	for _, m := range fam.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && have[k] == v
		}
		if match {
			switch {
			case m.GetGauge() != nil:
				found = append(found, m.GetGauge().GetValue())
			case m.GetCounter() != nil:
				found = append(found, m.GetCounter().GetValue())
			default:
				found = append(found, m.GetUntyped().GetValue())
			}
		}
	}
	require.Len(t, found, 1, "%s%v", name, want)
	return found[0]
}

// TestRealHost runs the default arguments (the default collectors on this machine's /proc
// and /sys): the collectors every Linux host has succeed.
func TestRealHost(t *testing.T) {
	r := start(t, "prometheus.exporter.unix/real", DefaultArguments())
	fams := parse(t, r.waitServing(t))
	for _, c := range []string{"cpu", "meminfo", "loadavg", "stat", "uname", "vmstat"} {
		require.Equal(t, 1.0, value(t, fams, "node_scrape_collector_success", map[string]string{"collector": c}), c)
	}
	require.Greater(t, value(t, fams, "node_memory_MemTotal_bytes", nil), 0.0)
}
