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
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
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
	cmd := exec.Command(b.node.SondeBinary(), "run",
		"--kubeconfig", b.node.Kubeconfig,
		fmt.Sprintf("--server.listen=127.0.0.1:%d", port),
		"--storage.path", t.TempDir(),
	)
	// No in-cluster hints and no KUBECONFIG from the environment: the flag alone.
	cmd.Env = filterEnv(os.Environ(), "KUBECONFIG", "SONDE_KUBECONFIG", "KUBERNETES_SERVICE_HOST", "NODE_NAME")
	stdout := &lockedBuffer{}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("local sonde stderr:\n%s", tailString(stderr.String(), 6000))
		}
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
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
		sc := bufio.NewScanner(strings.NewReader(stdout.String()))
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
		return fmt.Errorf("no demo line on stdout yet (%d bytes)", len(stdout.String()))
	})
}

func get(ctx context.Context, url string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: HTTP %d: %.300s", url, resp.StatusCode, b)
	}
	return string(b), err
}

func filterEnv(env []string, drop ...string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		keep := true
		for _, d := range drop {
			if k == d {
				keep = false
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	return append(out, "HOME="+filepath.Join(os.TempDir(), "sonde-nodetest-home"))
}

// lockedBuffer is a bytes.Buffer written by a process and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
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
