package nodetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// alloyJobs are the job names of Grafana's k8s-monitoring chart (Alloy), which its dashboards
// select on, and a series each that must carry it once the chart's jobNames is alloy.
var alloyJobs = map[string]string{
	"integrations/kubernetes/kubelet":            `kubelet_running_pods`,
	"integrations/kubernetes/cadvisor":           `container_cpu_usage_seconds_total{container!=""}`,
	"integrations/kubernetes/resources":          `container_cpu_usage_seconds_total`,
	"integrations/node_exporter":                 `node_exporter_build_info`,
	"integrations/kubernetes/kube-state-metrics": `kube_pod_info{namespace="shop"}`,
}

// testAlloyJobNames: with the chart's jobNames: alloy, the series carry the job names of
// Alloy's k8s-monitoring, so its dashboards work unchanged; then back to the default.
func (b *bed) testAlloyJobNames(t *testing.T) {
	b.upgrade(t, map[string]any{"jobNames": "alloy"})
	since := time.Now()
	Eventually(t, 2*time.Minute, 5*time.Second, "series with Alloy's job names", func(ctx context.Context) error {
		var missing []string
		for job, sel := range alloyJobs {
			q := addMatcher(sel, fmt.Sprintf("job=%q", job))
			n, err := b.promCount(ctx, q)
			if err != nil {
				return err
			}
			if n == 0 {
				missing = append(missing, q)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("no series for:\n  %s", strings.Join(missing, "\n  "))
		}
		return nil
	})
	t.Logf("every Alloy job name in Prometheus %s after the upgrade", time.Since(since).Round(time.Second))
	b.upgrade(t, nil)
}

// addMatcher adds a label matcher to a series selector (a bare metric name or name{…}).
func addMatcher(sel, m string) string {
	if i := strings.LastIndex(sel, "}"); i >= 0 {
		return sel[:i] + ", " + m + "}"
	}
	return sel + "{" + m + "}"
}
