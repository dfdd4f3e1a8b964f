package nodetest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sondehq/sonde/exporters/backendtest"
)

// testLocalBinary: `sonde run --kubeconfig` on the host, outside the cluster, as a kind user
// runs it from a laptop, collects the same node's data through the API server: the kubelet's
// cAdvisor and the annotated pods through the API server's proxy, pod logs through the
// pods/log endpoint. With no backend given, samples are served for pull and log lines are
// printed as JSON lines, which is what this test reads.
func (b *bed) testLocalBinary(t *testing.T) {
	port := backendtest.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	sonde := &backendtest.Process{Name: "sonde (local binary)"}
	// No in-cluster hints and no kubeconfig from the environment or the home folder: the
	// flag alone.
	noHints := []string{"KUBECONFIG=", "SONDE_KUBECONFIG=", "KUBERNETES_SERVICE_HOST=", "NODE_NAME=",
		"HOME=" + t.TempDir()}
	err := sonde.Start(b.node.SondeBinary(), []string{"run",
		"--kubeconfig", b.node.Kubeconfig,
		fmt.Sprintf("--server.listen=127.0.0.1:%d", port),
		"--storage.path", t.TempDir(),
	}, noHints, backendtest.HTTPOK(base+"/-/ready"))
	if err != nil {
		t.Fatalf("%v\n%s", err, tailString(sonde.Output(), 6000))
	}
	defer func() {
		sonde.Stop(30 * time.Second)
		if t.Failed() {
			t.Logf("local sonde output:\n%s", tailString(sonde.Output(), 6000))
		}
	}()
	want := []string{
		`container_cpu_usage_seconds_total{`, // the kubelet's cAdvisor through the node proxy
		`namespace="shop"`,
		`demo_lines_written_total{`, // the annotated demo pod through the pod proxy
		`kube_pod_info{`,            // kube-state-metrics through the pod proxy
	}
	Eventually(t, 3*time.Minute, 3*time.Second, "the local binary's samples", func(ctx context.Context) error {
		body, err := get(ctx, base+"/api/v1/components/prometheus.serve/local/metrics")
		if err != nil {
			return err
		}
		var missing []string
		for _, w := range want {
			if !strings.Contains(body, w) {
				missing = append(missing, w)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("missing %v", missing)
		}
		return nil
	})
	Eventually(t, 2*time.Minute, 2*time.Second, "the local binary's demo log lines", func(context.Context) error {
		sc := bufio.NewScanner(strings.NewReader(sonde.Output()))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var e struct {
				Labels map[string]string `json:"labels"`
				Line   string            `json:"line"`
			}
			if json.Unmarshal(sc.Bytes(), &e) != nil {
				continue
			}
			if e.Labels["namespace"] == "shop" && strings.HasPrefix(e.Labels["pod"], "demo-") && seqRE.MatchString(e.Line) {
				return nil
			}
		}
		return fmt.Errorf("no demo line on stdout yet (%d bytes)", len(sonde.Output()))
	})
}

func get(ctx context.Context, url string) (string, error) {
	status, b, err := backendtest.Get(ctx, url)
	if err == nil && status != http.StatusOK {
		return "", fmt.Errorf("GET %s: HTTP %d: %.300s", url, status, b)
	}
	return string(b), err
}

// reportUsage logs the agent's CPU and anonymous memory at the demo load, read from /proc
// (the agent's container is a process of this machine).
func (b *bed) reportUsage(t *testing.T) {
	pid, err := FindProcess("/usr/bin/sonde", "run")
	if err != nil {
		t.Logf("agent usage: %v", err)
		return
	}
	u, err := MeasureUsage(pid, 30*time.Second)
	if err != nil {
		t.Logf("agent usage: %v", err)
		return
	}
	t.Logf("agent at the demo load: %s", u)
}
