package nodetest

import (
	"context"
	"fmt"
	"hash/crc32"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sondehq/sonde/exporters/loki/write/lokitest"
)

// testDelivery: what the demo workload produced is in every backend, labelled the way the
// dashboards and queries of our users expect.
func (b *bed) testDelivery(t *testing.T) {
	t.Run("Metrics", b.testMetrics)
	t.Run("Logs", b.testLogs)
	t.Run("Traces", b.testTraces)
}

// testMetrics: node, cAdvisor, kubelet, annotated-pod, kube-state-metrics and static-target
// series are in Prometheus, and host series join kubelet series on instance and node.
func (b *bed) testMetrics(t *testing.T) {
	node := b.node.Name
	want := []string{
		// Host (node_exporter collectors), named by the node.
		fmt.Sprintf(`node_uname_info{instance=%q, node=%q}`, node, node),
		fmt.Sprintf(`node_cpu_seconds_total{mode="idle", instance=%q, node=%q}`, node, node),
		fmt.Sprintf(`node_filesystem_avail_bytes{mountpoint="/", node=%q}`, node),
		// sonde's own metrics, named by the node too.
		fmt.Sprintf(`sonde_build_info{instance=%q, node=%q}`, node, node),
		// Kubelet: cAdvisor per container, the kubelet's own metrics, the resource endpoint.
		fmt.Sprintf(`container_cpu_usage_seconds_total{metrics_path="/metrics/cadvisor", namespace="shop", container="demo", node=%q}`, node),
		fmt.Sprintf(`container_memory_working_set_bytes{metrics_path="/metrics/cadvisor", namespace="shop", container="demo", image!=""}`),
		fmt.Sprintf(`kubelet_running_pods{node=%q}`, node),
		`container_cpu_usage_seconds_total{metrics_path="/metrics/resource", namespace="shop"}`,
		// The demo app, found by its prometheus.io/* annotations.
		`demo_lines_written_total{namespace="shop", pod=~"demo-.+"}`,
		// kube-state-metrics, found by its pod annotations: its namespace/pod labels describe
		// the objects it reports on, not itself.
		`kube_pod_info{job="kube-state-metrics", namespace="shop", pod=~"demo-.+"}`,
		// The node-mixin USE dashboards' instance picker:
		// label_values(node_exporter_build_info{job="node-exporter"}, instance).
		fmt.Sprintf(`node_exporter_build_info{job="node-exporter", instance=%q}`, node),
		fmt.Sprintf(`kube_node_info{node=%q}`, node),
		// The static target.
		fmt.Sprintf(`up{instance=%q} == 1`, StaticTarget(b.node)),
	}
	Eventually(t, 3*time.Minute, 5*time.Second, "series in Prometheus", func(ctx context.Context) error {
		var missing []string
		for _, q := range want {
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
	// The joins dashboards make: host series with kubelet series on instance and node.
	joins := []string{
		`node_uname_info * on (instance) group_left () max by (instance) (kubelet_running_pods)`,
		`node_uname_info * on (node) group_left () max by (node) (kube_node_info)`,
		`max by (node) (container_memory_working_set_bytes{metrics_path="/metrics/cadvisor"}) * on (node) group_left () max by (node) (node_memory_MemTotal_bytes)`,
	}
	ctx := context.Background()
	for _, q := range joins {
		n, err := b.promCount(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Errorf("join returns nothing: %s", q)
		}
	}
	// Pod volumes are not filesystems of the node (kube-prometheus-stack excludes them too).
	n, err := b.promCount(ctx, `node_filesystem_size_bytes{mountpoint=~"/var/lib/kubelet/.+|/run/containerd/.+"}`)
	if err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		t.Errorf("%d node_filesystem series for kubelet/containerd mounts", n)
	}
}

// testLogs: every numbered line the demo containers wrote so far is in Loki exactly once,
// with its pod's labels from the first line on (the workload started before sonde did).
func (b *bed) testLogs(t *testing.T) {
	ctx := context.Background()
	pods, err := b.node.Client.CoreV1().Pods("shop").List(ctx, metav1.ListOptions{LabelSelector: "app in (demo, longlines)"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) == 0 {
		t.Fatal("no demo pods")
	}
	for _, p := range pods.Items {
		for _, c := range p.Spec.Containers {
			b.waitLogs(t, &p, c.Name, 0, false)
			if c.Name == "longlines" {
				b.checkLongLines(t, &p)
			}
		}
	}
}

// longLineRE is the end of a longlines line: its body's length and CRC-32.
var longLineRE = regexp.MustCompile(` len=(\d+) crc32=([0-9a-f]{8}) body=([A-Za-z0-9_-]*)$`)

// checkLongLines: lines longer than the runtime's 16 KiB split arrive whole (the CRI partial
// lines rejoined), byte for byte.
func (b *bed) checkLongLines(t *testing.T, p *corev1.Pod) {
	query := fmt.Sprintf(`{namespace=%q, pod=%q, container="longlines"}`, p.Namespace, p.Name)
	streams, err := b.loki.QueryRange(context.Background(), query, b.start, time.Now(), 60)
	if err != nil {
		t.Fatal(err)
	}
	long := 0
	for _, s := range streams {
		for _, e := range s.Entries {
			m := longLineRE.FindStringSubmatch(e.Line)
			if m == nil {
				t.Errorf("line without its checksum (%d bytes): %.120s", len(e.Line), e.Line)
				continue
			}
			n, _ := strconv.Atoi(m[1])
			if len(m[3]) != n || fmt.Sprintf("%08x", crc32.ChecksumIEEE([]byte(m[3]))) != m[2] {
				t.Errorf("line of %d bytes: body %d bytes, want %d, or its CRC-32 differs", len(e.Line), len(m[3]), n)
			}
			if len(e.Line) > 16<<10 {
				long++
			}
		}
	}
	if long == 0 {
		t.Errorf("no line over 16 KiB among the first 60 of %s", p.Name)
	}
	t.Logf("%s: %d lines over 16 KiB whole and intact", p.Name, long)
}

// queryLogs returns every entry of a LogQL query over [start, end], asked a minute at a time:
// one query over a pod's whole life (tens of thousands of lines) can take Loki longer than a
// minute on a busy 2-core machine, one minute of it well under a second.
func (b *bed) queryLogs(ctx context.Context, query string, start, end time.Time) ([]lokitest.Stream, error) {
	const window, limit = time.Minute, 100000
	byLabels := map[string]*lokitest.Stream{}
	var order []string
	for from := start; from.Before(end); from = from.Add(window) {
		to := from.Add(window)
		part, err := b.loki.QueryRange(ctx, query, from, to, limit)
		if err != nil {
			return nil, err
		}
		n := 0
		for _, s := range part {
			n += len(s.Entries)
			key := labelKey(s.Labels)
			if byLabels[key] == nil {
				byLabels[key] = &lokitest.Stream{Labels: s.Labels}
				order = append(order, key)
			}
			for _, e := range s.Entries {
				// An entry at exactly `to` belongs to the next window, whichever way Loki
				// treats the end of a range.
				if !e.Timestamp.Equal(to) {
					byLabels[key].Entries = append(byLabels[key].Entries, e)
				}
			}
		}
		if n >= limit {
			return nil, fmt.Errorf("%s: %d entries in a minute from %s: more than one query returns", query, n, from)
		}
	}
	out := make([]lokitest.Stream, 0, len(order))
	for _, k := range order {
		out = append(out, *byLabels[k])
	}
	return out, nil
}

// lineIDFormat is a Loki line_format template that keeps only what CheckLogs reads of a
// numbered line or of the final line with the totals.
const lineIDFormat = `{{ regexReplaceAll ".*?(stream=(?:stdout|stderr) seq=[0-9]+|final total_stdout=[0-9]+ total_stderr=[0-9]+).*" __line__ "${1}" }}`

// waitLogs waits until Loki holds a container's numbered lines with nothing missing and at
// most allowedDuplicates duplicates, and returns the report. With final, the program has
// ended: its line with the totals must be there too (else the lines it wrote last could still
// be on their way and go unchecked).
func (b *bed) waitLogs(t *testing.T, p *corev1.Pod, container string, allowedDuplicates int, final bool) LogReport {
	t.Helper()
	return b.waitLogsAllowing(t, p, container, 0, allowedDuplicates, final)
}

// waitLogsAllowing is waitLogs with allowedMissing lines that may be absent.
func (b *bed) waitLogsAllowing(t *testing.T, p *corev1.Pod, container string, allowedMissing, allowedDuplicates int, final bool) LogReport {
	t.Helper()
	var r LogReport
	// Only the part of each line that identifies it comes back (the lines are 1-70 KiB):
	// Loki's line_format shortens them server-side, stream labels unchanged.
	query := fmt.Sprintf(`{namespace=%q, pod=%q, container=%q} | line_format %q`, p.Namespace, p.Name, container, lineIDFormat)
	done, runtimeLoss := false, ""
	defer func() {
		if !done { // Eventually gave up: say where the lines stopped
			b.explainLogs(t, p, container, r)
		}
	}()
	Eventually(t, 2*time.Minute, 3*time.Second, "logs of "+p.Name+"/"+container, func(ctx context.Context) error {
		streams, err := b.queryLogs(ctx, query, p.CreationTimestamp.Add(-time.Minute), time.Now().Add(time.Minute))
		if err != nil {
			return err
		}
		r = CheckLogs(streams, p.Name, container)
		runtimeLoss = ""
		if final && len(r.Written) == 0 {
			// The runtime may have lost the end of the output (see runtimeloss.go): then
			// what its file holds is what must be in Loki.
			if kept, why := b.runtimeLoss(ctx, p, container); kept != nil {
				r, runtimeLoss = CheckLogsUpTo(streams, p.Name, container, kept), why
			}
		}
		probs := r.ProblemsAllowing(allowedMissing, allowedDuplicates)
		if final && len(r.Written) == 0 && runtimeLoss == "" {
			probs = append(probs, "its line with the totals is not in Loki (yet)")
		}
		if len(probs) > 0 {
			return fmt.Errorf("%s/%s: %s", p.Name, container, strings.Join(probs, "; "))
		}
		return nil
	})
	done = true
	if runtimeLoss != "" {
		t.Logf("RUNTIME DEFECT, not sonde's: %s; every line the file holds is in Loki", runtimeLoss)
	}
	t.Logf("%s/%s: %d lines in Loki, %d duplicated, written %v", p.Name, container, r.Lines, r.Duplicated, r.Written)
	return r
}

// testTraces: the demo app's spans, sent to its node's agent, are in Tempo with the
// attributes of the pod that sent them.
func (b *bed) testTraces(t *testing.T) {
	Eventually(t, 2*time.Minute, 3*time.Second, "demo spans in Tempo with k8s attributes", func(ctx context.Context) error {
		ids, err := b.tempo.Search(ctx, `{resource.service.name="demo"}`, b.start, time.Now(), 5)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			return fmt.Errorf("no trace of service demo")
		}
		td, found, err := b.tempo.Trace(ctx, ids[0])
		if err != nil || !found {
			return fmt.Errorf("trace %s: found %v, %v", ids[0], found, err)
		}
		attrs := td.ResourceSpans().At(0).Resource().Attributes()
		for _, k := range []string{"k8s.pod.name", "k8s.namespace.name", "k8s.node.name"} {
			v, ok := attrs.Get(k)
			if !ok || v.Str() == "" {
				return fmt.Errorf("trace %s lacks %s: %v", ids[0], k, attrs.AsRaw())
			}
		}
		if v, _ := attrs.Get("k8s.namespace.name"); v.Str() != "shop" {
			return fmt.Errorf("k8s.namespace.name = %q, want shop", v.Str())
		}
		return nil
	})
}
