package nodetest

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/sondehq/sonde/exporters/backendtest"
)

// testDashboards: every panel query of sonde's own dashboards returns data on the real node,
// and the series and labels that the dashboards our users already have (kube-prometheus-stack,
// node-mixin, dcgm-exporter; facts in testdata/dashboard-facts.yaml) rely on are there.
func (b *bed) testDashboards(t *testing.T) {
	facts, err := LoadDashboardFacts(backendtest.RepoFile(t, "deploy/nodetest/testdata/dashboard-facts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// Rates need two samples in their window: let a few scrape intervals pass.
	opts := CheckOptions{Jobs: facts.RewriteJobs(), Lookback: 3 * time.Minute}
	Eventually(t, 3*time.Minute, 10*time.Second, "the dashboards' series and labels", func(ctx context.Context) error {
		return findingsErr(required(CheckDashboards(ctx, b.prom.URL(), facts, opts)))
	})

	dashboards, _ := filepath.Glob(backendtest.RepoFile(t, "deploy/dashboards") + "/*.json")
	if len(dashboards) == 0 {
		t.Fatal("no dashboards in deploy/dashboards")
	}
	own := OwnOptions{CheckOptions: opts, Vars: map[string]string{"node": b.node.Name, "instance": b.node.Name},
		// No GPU on this machine; no prometheus.relabel or loki.process component in the
		// daemonset preset, so their panels have nothing to show.
		SkipMetricPrefixes: []string{"DCGM_", "sonde_prometheus_relabel_", "sonde_loki_process_"}}
	Eventually(t, 2*time.Minute, 10*time.Second, "sonde's dashboards' panels", func(ctx context.Context) error {
		return findingsErr(required(CheckOwnDashboards(ctx, b.prom.URL(), dashboards, own)))
	})

	names, err := GPUExporterNames(backendtest.RepoFile(t, "."))
	if err != nil {
		t.Fatal(err)
	}
	if err := findingsErr(required(CheckMetricNames(facts, "dcgm-exporter", names))); err != nil {
		t.Error(err)
	}
}

// required drops the findings marked optional (series a healthy node may lack).
func required(fs []Finding) []Finding {
	var out []Finding
	for _, f := range fs {
		if !f.Optional {
			out = append(out, f)
		}
	}
	return out
}

// findingsErr is nil without findings, else an error listing them.
func findingsErr(fs []Finding) error {
	if len(fs) == 0 {
		return nil
	}
	msg := ""
	for _, f := range fs {
		msg += "\n  " + f.String()
	}
	return fmt.Errorf("%d findings:%s", len(fs), msg)
}
