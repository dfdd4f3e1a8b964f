package nodetest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/backendtest"
	"github.com/sondehq/sonde/exporters/loki/write/lokitest"
	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
)

// bed is everything one real-node run shares: the node, the backends on the host, and sonde
// installed by its chart.
type bed struct {
	node  *Node
	prom  *backendtest.Prometheus
	loki  *lokitest.Loki
	tempo *oteltest.Tempo
	start time.Time // before anything was written: the start of every backend query
	rel   Release
}

// TestRealNode is the project's main end-to-end test: sonde as its users run it. One node for
// the whole run (bringing it up costs seconds, the images and the chart more), its parts as
// subtests in the order a user meets them: install, data in every backend, dashboards,
// lifecycle under load, the local binary.
func TestRealNode(t *testing.T) {
	if testing.Short() {
		t.Skip("the real node is not part of the fast tier (-short); make test runs it")
	}
	b := &bed{start: time.Now().Add(-time.Minute)}
	b.prom = backendtest.StartPrometheus(t)
	b.loki = lokitest.Start(t)
	b.tempo = oteltest.StartTempo(t)
	b.node = Up(t)
	t.Cleanup(func() { // before the node's teardown removes them
		if t.Failed() {
			t.Logf("the agent's own logs on the node (every container it ran):\n%s", agentLog("level=ERROR"))
		}
	})
	images := BuildImages(t, b.node)
	t.Logf("images: %v", images)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	require.NoError(t, b.node.Apply(ctx, Workload(t, b.node)))

	b.rel = Release{Name: "sonde", Namespace: "monitoring", Values: b.values(nil)}
	took, err := b.node.InstallSonde(b.rel)
	require.NoError(t, err)
	t.Logf("helm install --wait: %s", took.Round(100*time.Millisecond))

	t.Run("Delivery", b.testDelivery)
	t.Run("Health", b.testHealth)
	t.Run("Dashboards", b.testDashboards)
	t.Run("AlloyJobNames", b.testAlloyJobNames)
	t.Run("Elasticsearch", b.testElasticsearch)
	t.Run("Lifecycle", b.testLifecycle)
	t.Run("LocalBinary", b.testLocalBinary)
	t.Run("Summary", b.testSummary)
}

// values are the chart values of this run: the local image, the backends on the host
// (reached from the hostNetwork agent on 127.0.0.1), storage inside the node's directory.
func (b *bed) values(extra map[string]any) map[string]any {
	v := map[string]any{
		"image":      map[string]any{"repository": "sonde.test/sonde", "tag": "dev", "pullPolicy": "Never"},
		"prometheus": map[string]any{"url": b.prom.URL()},
		"loki":       map[string]any{"url": b.loki.URL()},
		"otlp":       map[string]any{"endpoint": b.tempo.OTLPGRPCEndpoint()},
		"daemonset": map[string]any{
			"storage": map[string]any{"hostPath": b.node.Dir + "/sonde-storage"},
		},
		"staticTargets": []string{StaticTarget(b.node)},
		// Nothing of the test bed listens beyond the node's bridge: the agent's HTTP server
		// and OTLP receiver bind the node IP, not 0.0.0.0 (the host network is the VM's).
		"extraArgs": []string{"--server.listen=$(NODE_IP):12345"},
		"extraEnv": []map[string]any{
			{"name": "SONDE_OTLP_GRPC_LISTEN", "value": "$(NODE_IP):4317"},
			{"name": "SONDE_OTLP_HTTP_LISTEN", "value": "$(NODE_IP):4318"},
		},
		"logLevel": "info",
	}
	for k, x := range extra {
		v[k] = x
	}
	return v
}

// agentURL is the sonde agent's HTTP server on the node (hostNetwork: the node IP).
func (b *bed) agentURL() string { return "http://" + b.node.IP + ":12345" }

// testHealth: the agent is ready, the GPU component says "unavailable" (no GPU here) and every
// other component is healthy once its first scrapes and pushes went through.
func (b *bed) testHealth(t *testing.T) {
	Eventually(t, 3*time.Minute, 2*time.Second, "every component healthy", func(ctx context.Context) error {
		comps, err := agentComponents(ctx, b.agentURL())
		if err != nil {
			return err
		}
		var bad []string
		for _, c := range comps {
			want := "healthy"
			if c.Type == "prometheus.exporter.gpu" {
				want = "unavailable"
			}
			if c.Health.State != want {
				bad = append(bad, fmt.Sprintf("%s: %s (%s), want %s", c.ID, c.Health.State, c.Health.Message, want))
			}
		}
		if len(bad) > 0 {
			return fmt.Errorf("%s", strings.Join(bad, "; "))
		}
		return nil
	})
	resp, err := http.Get(b.agentURL() + "/-/ready")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "/-/ready")

	// A kubelet whose certificate the agent cannot verify: the scrape turns unhealthy and
	// says why, the pod stays ready (the kubelet's certificate is no reason to leave the
	// OTLP Service), and it turns healthy again with the right CA.
	b.upgrade(t, map[string]any{"config": map[string]any{"overrides": map[string]any{
		"prometheus.scrape/kubelet": map[string]any{"tls_config": map[string]any{"ca_file": "/etc/ssl/certs/ca-certificates.crt"}},
	}}})
	Eventually(t, 2*time.Minute, 2*time.Second, "the kubelet scrape unhealthy on x509", func(ctx context.Context) error {
		c, err := findComponent(ctx, b.agentURL(), "prometheus.scrape/kubelet")
		if err != nil {
			return err
		}
		if c.Health.State != "unhealthy" || !strings.Contains(c.Health.Message, "x509") {
			return fmt.Errorf("health %s (%s)", c.Health.State, c.Health.Message)
		}
		t.Logf("prometheus.scrape/kubelet: %s: %s", c.Health.State, c.Health.Message)
		return nil
	})
	resp, err = http.Get(b.agentURL() + "/-/ready")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "/-/ready while the kubelet scrape fails")
	b.upgrade(t, nil)
	Eventually(t, 2*time.Minute, 2*time.Second, "the kubelet scrape healthy again", func(ctx context.Context) error {
		c, err := findComponent(ctx, b.agentURL(), "prometheus.scrape/kubelet")
		if err != nil {
			return err
		}
		if c.Health.State != "healthy" {
			return fmt.Errorf("health %s (%s)", c.Health.State, c.Health.Message)
		}
		return nil
	})
}

// upgrade rolls the agent out again with extra chart values (a pod annotation changes, so the
// pods restart at once rather than at the kubelet's next ConfigMap sync).
func (b *bed) upgrade(t *testing.T, extra map[string]any) {
	t.Helper()
	if extra == nil {
		extra = map[string]any{}
	}
	extra["podAnnotations"] = map[string]any{"sonde.test/rollout": time.Now().Format(time.RFC3339Nano)}
	rel := b.rel
	rel.Values = b.values(extra)
	took, err := b.node.InstallSonde(rel)
	require.NoError(t, err)
	t.Logf("helm upgrade --wait: %s", took.Round(100*time.Millisecond))
	b.waitAgentReady(t)
}

func findComponent(ctx context.Context, base, id string) (agentComponent, error) {
	comps, err := agentComponents(ctx, base)
	if err != nil {
		return agentComponent{}, err
	}
	for _, c := range comps {
		if c.ID == id {
			return c, nil
		}
	}
	return agentComponent{}, fmt.Errorf("no component %s", id)
}

type agentComponent struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Health struct {
		State   string `json:"state"`
		Message string `json:"message"`
	} `json:"health"`
}

func agentComponents(ctx context.Context, base string) ([]agentComponent, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/components", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var comps []agentComponent
	if err := json.NewDecoder(resp.Body).Decode(&comps); err != nil {
		return nil, err
	}
	if len(comps) == 0 {
		return nil, fmt.Errorf("no components")
	}
	return comps, nil
}

// promCount returns the number of series a PromQL selector matches now.
func (b *bed) promCount(ctx context.Context, q string) (int, error) {
	res, err := b.prom.Query(ctx, "count("+q+")")
	if err != nil {
		return 0, err
	}
	if len(res) == 0 {
		return 0, nil
	}
	return int(res[0].Float()), nil
}
