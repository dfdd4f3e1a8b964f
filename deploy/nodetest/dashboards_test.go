package nodetest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	promparser "github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
)

const factsFile = "testdata/dashboard-facts.yaml"

// repoRoot is the module root, two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	return root
}

func TestDashboardFactsLoad(t *testing.T) {
	f, err := LoadDashboardFacts(factsFile)
	require.NoError(t, err)
	want := []string{"k8s-resources-pod", "k8s-resources-node", "k8s-resources-namespace", "nodes", "node-rsrc-use", "node-cluster-rsrc-use", "node-mixin", "dcgm-exporter"}
	var got []string
	for _, s := range f.Sources {
		got = append(got, s.ID)
		require.NotEmpty(t, s.Facts, s.ID)
		require.Len(t, s.Commit, 40, s.ID)
	}
	for _, id := range want {
		require.Contains(t, got, id)
	}
	require.Equal(t, map[string]string{"node": "node-exporter", "cadvisor": "kubelet"}, f.RewriteJobs())
}

func TestDashboardFactsLoadRejects(t *testing.T) {
	for name, body := range map[string]string{
		"unknown kind":    "sources: [{id: a, repo: r, path: p, commit: c, facts: [{kind: panel}]}]",
		"bad selector":    "sources: [{id: a, repo: r, path: p, commit: c, facts: [{kind: series, selector: 'up{'}]}]",
		"bad rule":        "sources: [{id: a, repo: r, path: p, commit: c, facts: [{kind: rule, name: r, expr: 'sum('}]}]",
		"unknown field":   "sources: [{id: a, repo: r, path: p, commit: c, colour: red}]",
		"no commit":       "sources: [{id: a, repo: r, path: p, facts: []}]",
		"bad sonde value": "jobs: [{job: kubelet, sonde: maybe}]",
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "f.yaml")
			require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
			_, err := LoadDashboardFacts(p)
			require.Error(t, err)
		})
	}
}

func TestDashboardExpandVariables(t *testing.T) {
	vars := map[string]string{"namespace": "demo", "pod": "web-.*", "pod_name": "x"}
	for in, want := range map[string]string{
		`rate(a{namespace=~"$namespace"}[$__rate_interval])`: `rate(a{namespace=~"demo"}[1m])`,
		`a{pod=~"${pod}", p="${pod_name}"}`:                  `a{pod=~"web-.*", p="x"}`,
		`a{pod=~"${pod:regex}"}[$__interval]`:                `a{pod=~"web-.*"}[15s]`,
		`a{pod="[[pod_name]]"}`:                              `a{pod="x"}`,
		`a{x="$unknown"}`:                                    `a{x="$unknown"}`,
		`sum by (namespace) (rate({pod=~"$pod"} [$__auto]))`: `sum by (namespace) (rate({pod=~"web-.*"} [1m]))`,
	} {
		require.Equal(t, want, ExpandVariables(in, vars), in)
	}
}

func TestDashboardUnwrapFilters(t *testing.T) {
	for in, want := range map[string]string{
		`sum(rate(a[1m])) > 0`:                    `sum(rate(a[1m]))`,
		`(sum(a) or vector(0))`:                   `sum(a)`,
		`count(b == 0) or vector(0)`:              `count(b == 0)`,
		`b{state!="healthy"} == 1`:                `b{state!="healthy"}`,
		`a / b`:                                   `a / b`,
		`a > bool 0`:                              `a > bool 0`,
		`sum by (x) (increase(c[1h])) > 0`:        `sum by (x) (increase(c[1h]))`,
		`topk(10, a) / on (x) max by (x) (b)`:     `topk(10, a) / on (x) max by (x) (b)`,
		`a or b`:                                  `a or b`,
		`DCGM_FI_DEV_XID_ERRORS > 0`:              `DCGM_FI_DEV_XID_ERRORS`,
		`1 - avg by (instance) (rate(c[1m])) < 2`: `1 - avg by (instance) (rate(c[1m]))`,
	} {
		e, err := promQL.ParseExpr(in)
		require.NoError(t, err)
		require.Equal(t, want, unwrapFilters(e).String(), in)
	}
}

func TestDashboardRewriteJobs(t *testing.T) {
	got, err := rewriteJobs(`rate(a{job="node", mode="idle"}[5m]) / b{job="other"}`, map[string]string{"node": "node-exporter"})
	require.NoError(t, err)
	require.Equal(t, `rate(a{job="node-exporter",mode="idle"}[5m]) / b{job="other"}`, got)
	got, err = rewriteJobs(`a{job="x"}`, nil)
	require.NoError(t, err)
	require.Equal(t, `a{job="x"}`, got)
}

func TestDashboardLoadOwn(t *testing.T) {
	d, err := LoadDashboard(filepath.Join(repoRoot(t), "deploy", "dashboards", "sonde-nodes-pods.json"))
	require.NoError(t, err)
	require.NotEmpty(t, d.Title)
	var loki, prom int
	for _, q := range d.Queries {
		if q.Loki {
			loki++
		} else {
			prom++
		}
		require.NotEmpty(t, q.Panel)
	}
	require.Positive(t, loki, "the container logs panels are Loki's")
	require.Greater(t, prom, 20)
	names := map[string]Variable{}
	for _, v := range d.Variables {
		names[v.Name] = v
	}
	require.Contains(t, names["namespace"].Query, "label_values(")
}

// fakeProm is a Prometheus HTTP API over a fixed set of series: /api/v1/series matches
// them with the selector's matchers; /api/v1/query answers a query from answers when it
// is there, else with the union of what its selectors match when every selector matches
// something (enough for the checker, which only looks at presence and labels).
type fakeProm struct {
	series  []labels.Labels
	answers map[string][]map[string]string
	queries []string
}

func (f *fakeProm) match(sel string) []map[string]string {
	ms, err := promQL.ParseMetricSelector(sel)
	if err != nil {
		return nil
	}
	var out []map[string]string
	for _, s := range f.series {
		ok := true
		for _, m := range ms {
			ok = ok && m.Matches(s.Get(m.Name))
		}
		if ok {
			out = append(out, s.Map())
		}
	}
	return out
}

func (f *fakeProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	reply := func(data any) {
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": data})
	}
	switch r.URL.Path {
	case "/api/v1/series":
		out := []map[string]string{}
		for _, sel := range r.Form["match[]"] {
			out = append(out, f.match(sel)...)
		}
		reply(out)
	case "/api/v1/query":
		q := r.Form.Get("query")
		f.queries = append(f.queries, q)
		res := []map[string]any{}
		sets, ok := f.answers[q]
		if !ok {
			e, err := promQL.ParseExpr(q)
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				_ = json.NewEncoder(w).Encode(map[string]any{"status": "error", "errorType": "bad_data", "error": err.Error()})
				return
			}
			all := true
			promparser.Inspect(e, func(n promparser.Node, _ []promparser.Node) error {
				if vs, isVS := n.(*promparser.VectorSelector); isVS {
					m := f.match(vs.String())
					all = all && len(m) > 0
					sets = append(sets, m...)
				}
				return nil
			})
			if !all {
				sets = nil
			}
		}
		for _, s := range sets {
			res = append(res, map[string]any{"metric": s, "value": []any{1, "1"}})
		}
		reply(map[string]any{"resultType": "vector", "result": res})
	default:
		http.NotFound(w, r)
	}
}

func startFake(t *testing.T, f *fakeProm) string {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestDashboardCheckFacts(t *testing.T) {
	facts := &DashboardFacts{Sources: []SourceDashboard{{ID: "pod", Facts: []Fact{
		{Kind: FactSeries, Exporter: "kubelet-cadvisor", Selector: `container_memory_working_set_bytes{job="kubelet", container!=""}`, Labels: []string{"namespace", "pod", "container", "node"}},
		{Kind: FactSeries, Exporter: "kubelet-cadvisor", Selector: `container_cpu_cfs_periods_total{job="kubelet"}`, Optional: true},
		{Kind: FactSeries, Exporter: "kube-state-metrics", Selector: `kube_pod_info{job="kube-state-metrics"}`, Labels: []string{"node"}},
		{Kind: FactSeries, Exporter: "node-exporter", Selector: `node_load1{job="node"}`, Labels: []string{"instance"}},
		{Kind: FactRule, Exporter: "node-exporter", Name: "node:node_num_cpu:sum", Expr: `count by (node) (node_cpu_seconds_total{job="node-exporter"} * on (namespace, pod) group_left(node) kube_pod_info)`,
			Inputs: []string{`node_cpu_seconds_total{job="node-exporter"}`, `kube_pod_info`}, Labels: []string{"node"}},
		{Kind: FactMetricName, Exporter: "dcgm-exporter", Name: "DCGM_FI_DEV_GPU_UTIL"},
	}}}}
	fake := &fakeProm{series: []labels.Labels{
		labels.FromStrings("__name__", "container_memory_working_set_bytes", "job", "kubelet", "namespace", "demo", "pod", "web", "container", "app", "node", "n1"),
		labels.FromStrings("__name__", "container_memory_working_set_bytes", "job", "kubelet", "namespace", "demo", "pod", "", "container", "app"),
		labels.FromStrings("__name__", "node_load1", "job", "node-exporter", "instance", "n1"),
		labels.FromStrings("__name__", "node_load1", "job", "node"),
		labels.FromStrings("__name__", "node_cpu_seconds_total", "job", "node-exporter", "instance", "n1", "cpu", "0", "mode", "idle"),
	}}
	url := startFake(t, fake)

	got := CheckDashboards(context.Background(), url, facts, CheckOptions{})
	var summary []string
	for _, f := range got {
		summary = append(summary, f.Kind+" "+f.Label+" "+f.Query+" "+f.Detail)
	}
	require.ElementsMatch(t, []string{
		// A label some series lack is fine (cAdvisor's node-level cgroups have no pod);
		// one that no series of the selector carries is a finding.
		`no-data  container_cpu_cfs_periods_total{job="kubelet"} `,
		`no-data  kube_pod_info{job="kube-state-metrics"} `,
		`missing-label instance node_load1{job="node"} none of 1 series has it`,
		`no-data  count by (node) (node_cpu_seconds_total{job="node-exporter"} * on (namespace, pod) group_left(node) kube_pod_info) no series for kube_pod_info`,
	}, summary)
	for _, f := range got {
		require.Equal(t, strings.Contains(f.Query, "cfs_periods"), f.Optional, f.String())
	}

	// Pointing the dashboards at sonde's jobs, and leaving kube-state-metrics out.
	got = CheckDashboards(context.Background(), url, facts, CheckOptions{
		Jobs:      map[string]string{"node": "node-exporter"},
		Exporters: []string{"node-exporter"},
	})
	require.Len(t, got, 1, "%v", got)
	require.Equal(t, "node:node_num_cpu:sum", got[0].Panel)

	// A dead Prometheus is an error finding, not a panic or silence.
	got = CheckDashboards(context.Background(), "http://127.0.0.1:1", facts, CheckOptions{Exporters: []string{"node-exporter"}})
	require.NotEmpty(t, got)
	for _, f := range got {
		require.Equal(t, FindingError, f.Kind)
	}
}

func TestDashboardCheckMetricNames(t *testing.T) {
	names, err := GPUExporterNames(repoRoot(t))
	require.NoError(t, err)
	require.True(t, names.Default["DCGM_FI_DEV_GPU_UTIL"])
	require.True(t, names.Labels["UUID"] && names.Labels["modelName"] && names.Labels["Hostname"])

	facts, err := LoadDashboardFacts(factsFile)
	require.NoError(t, err)
	require.Empty(t, CheckMetricNames(facts, "dcgm-exporter", names), "sonde's GPU exporter must define what dcgm-exporter dashboards use")

	bad := &DashboardFacts{Sources: []SourceDashboard{{ID: "x", Facts: []Fact{
		{Kind: FactMetricName, Exporter: "dcgm-exporter", Name: "DCGM_FI_DEV_NOPE", Labels: []string{"gpu", "colour", "instance"}},
		{Kind: FactMetricName, Exporter: "dcgm-exporter", Name: "DCGM_FI_DEV_MEM_CLOCK"},
	}}}}
	names.Default = map[string]bool{"DCGM_FI_DEV_GPU_UTIL": true}
	var kinds []string
	for _, f := range CheckMetricNames(bad, "dcgm-exporter", names) {
		kinds = append(kinds, f.Kind+" "+f.Panel+" "+f.Label)
	}
	require.ElementsMatch(t, []string{"unknown-metric DCGM_FI_DEV_NOPE ", "unknown-label DCGM_FI_DEV_NOPE colour", "not-default DCGM_FI_DEV_MEM_CLOCK "}, kinds)
}

func TestDashboardCheckOwn(t *testing.T) {
	dir := t.TempDir()
	dash := `{"title": "t", "templating": {"list": [
	  {"name": "datasource", "type": "datasource", "query": "prometheus"},
	  {"name": "instance", "type": "query", "query": {"query": "label_values(node_uname_info, instance)"}},
	  {"name": "pod", "type": "query", "query": "label_values(kube_pod_info{namespace=~\"$namespace\"}, pod)"}]},
	 "panels": [
	  {"title": "row", "type": "row", "panels": [
	    {"title": "CPU", "targets": [{"refId": "A", "expr": "1 - avg by (instance) (rate(node_cpu_seconds_total{mode=\"idle\", instance=~\"$instance\"}[$__rate_interval]))"}]}]},
	  {"title": "Dropped", "targets": [{"expr": "sum(rate(sonde_dropped_total[$__rate_interval])) > 0"}]},
	  {"title": "Missing", "targets": [{"expr": "sum(rate(node_gone_total{instance=~\"$instance\"}[$__rate_interval])) or vector(0)"}]},
	  {"title": "GPU", "targets": [{"expr": "DCGM_FI_DEV_GPU_UTIL"}]},
	  {"title": "Bad", "targets": [{"expr": "sum(rate(x[$undefined]))"}]},
	  {"title": "Logs", "datasource": {"type": "loki", "uid": "${loki_datasource}"}, "targets": [{"expr": "{pod=~\"$pod\"} |= \"x\""}]}]}`
	p := filepath.Join(dir, "d.json")
	require.NoError(t, os.WriteFile(p, []byte(dash), 0o644))

	fake := &fakeProm{series: []labels.Labels{
		labels.FromStrings("__name__", "node_uname_info", "instance", "n1"),
		labels.FromStrings("__name__", "node_cpu_seconds_total", "instance", "n1", "mode", "idle", "cpu", "0"),
		labels.FromStrings("__name__", "sonde_dropped_total", "instance", "n1"),
	}}
	got := CheckOwnDashboards(context.Background(), startFake(t, fake), []string{p}, OwnOptions{
		Vars:               map[string]string{"instance": "n1"},
		SkipMetricPrefixes: []string{"DCGM_"},
	})
	var summary []string
	for _, f := range got {
		summary = append(summary, f.Kind+" "+f.Panel)
	}
	require.ElementsMatch(t, []string{"variable-empty $pod", "no-data Missing", "error Bad"}, summary, "%v", got)
	for _, f := range got {
		if f.Panel == "Missing" {
			require.Contains(t, f.Detail, `no series for node_gone_total{instance=~"n1"}`)
		}
	}
	require.True(t, slices.Contains(fake.queries, `sum(rate(sonde_dropped_total[1m]))`), "the > 0 filter is stripped: %v", fake.queries)
}

// sonde's own dashboards: every query parses after substitution; over an empty Prometheus
// each is a no-data finding, none an error.
func TestDashboardCheckOwnDashboards(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(repoRoot(t), "deploy", "dashboards", "*.json"))
	require.NoError(t, err)
	require.Len(t, paths, 2)
	got := CheckOwnDashboards(context.Background(), startFake(t, &fakeProm{}), paths, OwnOptions{})
	for _, f := range got {
		require.Contains(t, []string{FindingNoData, FindingVariableEmpty}, f.Kind, f.String())
	}
	require.NotEmpty(t, got)
}
