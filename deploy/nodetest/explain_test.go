package nodetest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// podLogRoot is where the node's kubelet writes container logs (testdata/node/up.sh).
const podLogRoot = "/var/log/pods"

// explainLogs says, when a pod's lines are not all in Loki, where they stopped: what the
// container's log files on the node hold, what the agent says about those files, its
// loki.source.file and loki.write metrics, and what the agent logged. The node runs on
// this machine, so its files are read directly.
func (b *bed) explainLogs(t *testing.T, p *corev1.Pod, container string, r LogReport) {
	t.Helper()
	var out strings.Builder
	fmt.Fprintf(&out, "why %s/%s is incomplete: Loki has %d lines (max seq %v, streams %v, examples %v)\n",
		p.Name, container, r.Lines, r.MaxSeq, r.Streams, r.Examples)
	dir := filepath.Join(podLogRoot, fmt.Sprintf("%s_%s_%s", p.Namespace, p.Name, p.UID), container)
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) == 0 {
		fmt.Fprintf(&out, "  on the node: no file in %s\n", dir)
	}
	for _, f := range files {
		fmt.Fprintf(&out, "  on the node: %s\n", describeLogFile(f))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	fmt.Fprintf(&out, "  agent's view of its files: %s\n", b.agentFileView(ctx, string(p.UID)))
	fmt.Fprintf(&out, "  agent's log metrics:\n%s", indent(agentMetrics(ctx, b.agentURL(), "loki_"), "    "))
	fmt.Fprintf(&out, "  agent's log (warnings, errors, this pod):\n%s", indent(agentLog(p.Name), "    "))
	t.Log(out.String())
}

// describeLogFile gives a log file's size, line count, and its first and last lines (cut).
func describeLogFile(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("%s: %v", path, err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var n int
	var first, last string
	for sc.Scan() {
		if n == 0 {
			first = sc.Text()
		}
		last = sc.Text()
		n++
	}
	return fmt.Sprintf("%s: %d bytes, %d lines, first %q, last %q", filepath.Base(path), fi.Size(), n, cut(first, 160), cut(last, 160))
}

// agentFileView returns what loki.source.file/pods reports (its debug info) for the files
// whose path contains uid.
func (b *bed) agentFileView(ctx context.Context, uid string) string {
	body, err := httpGet(ctx, b.agentURL()+"/api/v1/components/loki.source.file/pods")
	if err != nil {
		return err.Error()
	}
	var c struct {
		Debug struct {
			Totals json.RawMessage   `json:"totals"`
			Files  []json.RawMessage `json:"files"`
		} `json:"debug"`
	}
	if err := json.Unmarshal(body, &c); err != nil {
		return fmt.Sprintf("%v: %s", err, cut(string(body), 300))
	}
	var files []string
	for _, f := range c.Debug.Files {
		if bytes.Contains(f, []byte(uid)) {
			files = append(files, string(f))
		}
	}
	return fmt.Sprintf("totals %s; this pod's files %v", c.Debug.Totals, files)
}

// agentMetrics returns the agent's metric lines that start with prefix.
func agentMetrics(ctx context.Context, base, prefix string) string {
	body, err := httpGet(ctx, base+"/metrics")
	if err != nil {
		return err.Error() + "\n"
	}
	var out strings.Builder
	for line := range strings.Lines(string(body)) {
		if strings.HasPrefix(line, prefix) || strings.HasPrefix(line, "sonde_"+prefix) {
			out.WriteString(line)
		}
	}
	return out.String()
}

// agentLog returns the lines of every agent container log on the node (every restart) that
// are warnings or errors or name pod, and the last lines of the newest.
func agentLog(pod string) string {
	files, _ := filepath.Glob(filepath.Join(podLogRoot, "monitoring_sonde-*", "sonde", "*.log"))
	var out strings.Builder
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(&out, "%v\n", err)
			continue
		}
		fmt.Fprintf(&out, "-- %s\n", f)
		var n int
		for line := range strings.Lines(string(b)) {
			if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") || strings.Contains(line, pod) {
				if n++; n <= 40 {
					out.WriteString(cut(line, 400) + "\n")
				}
			}
		}
		if n > 40 {
			fmt.Fprintf(&out, "(%d more)\n", n-40)
		}
		out.WriteString(tailString(string(b), 2000))
	}
	return out.String()
}

func httpGet(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s: %s", url, resp.Status, cut(string(body), 200))
	}
	return body, err
}

func cut(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func indent(s, prefix string) string {
	var out strings.Builder
	for line := range strings.Lines(s) {
		out.WriteString(prefix + line)
	}
	if s != "" && !strings.HasSuffix(s, "\n") {
		out.WriteString("\n")
	}
	return out.String()
}

// runtimeLoss returns, when containerd says it failed to copy the output of p's container
// and the container's log file lacks the line with the totals, the highest numbered line of
// each stream the file holds, and what happened; nil otherwise.
func (b *bed) runtimeLoss(ctx context.Context, p *corev1.Pod, container string) (map[string]int, string) {
	id := containerID(p, container)
	if id == "" { // the pod as the caller saw it may predate its container: look again
		if fresh, err := b.node.Client.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{}); err == nil {
			id = containerID(fresh, container)
		}
	}
	streams, failed := PipeFailures(strings.NewReader(b.node.Logs("containerd")))[id]
	if id == "" || !failed {
		return nil, ""
	}
	dir := filepath.Join(podLogRoot, fmt.Sprintf("%s_%s_%s", p.Namespace, p.Name, p.UID), container)
	files, _ := filepath.Glob(filepath.Join(dir, "*.log*"))
	kept := map[string]int{}
	for _, name := range files {
		if strings.HasSuffix(name, ".gz") {
			continue
		}
		f, err := os.Open(name)
		if err != nil {
			return nil, ""
		}
		k, final := KeptByRuntime(f)
		f.Close()
		if final {
			return nil, "" // the file has the totals: whatever is missing is not the runtime's doing
		}
		for s, n := range k {
			kept[s] = max(kept[s], n)
		}
	}
	return kept, fmt.Sprintf("containerd failed to pipe %v of %s/%s (container %.12s); its log file ends at %v, without the line with the totals",
		streams, p.Name, container, id, kept)
}

// containerID returns the runtime's ID of p's container (without the containerd:// scheme).
func containerID(p *corev1.Pod, container string) string {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == container {
			_, id, _ := strings.Cut(cs.ContainerID, "://")
			return id
		}
	}
	return ""
}
