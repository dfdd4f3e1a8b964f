package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/components/prometheus/scrape/scrapetest"
	"github.com/sondehq/sonde/exporters/backendtest"
)

// TestScrapedMetadataServed: a target's counter, gauge and histogram, scraped by
// prometheus.scrape into prometheus.serve, are served with their HELP and TYPE.
func TestScrapedMetadataServed(t *testing.T) {
	c, _ := newSink(t, DefaultArguments())
	scrapetest.Into(t, scrapetest.TypedTarget(t), c.Appendable())
	want := []string{
		"# HELP requests_total Requests served.\n# TYPE requests_total counter\n",
		"# HELP temperature_celsius Room temperature.\n# TYPE temperature_celsius gauge\n",
		"# HELP latency_seconds Request latency.\n# TYPE latency_seconds histogram\n",
		"# TYPE up gauge\n",
	}
	require.Eventually(t, func() bool {
		_, _, body := get(t, c, nil)
		for _, w := range want {
			if !strings.Contains(string(body), w) {
				return false
			}
		}
		return true
	}, 10*time.Second, 10*time.Millisecond)
	_, _, body := get(t, c, nil)
	require.Contains(t, string(body), `latency_seconds_bucket{instance=`)
	require.NotContains(t, string(body), "untyped")
}

// TestPrometheusScrapesMetadata: a real Prometheus scraping prometheus.serve (fed by
// prometheus.scrape) knows the type and help of a counter, a gauge and a histogram, as it
// would scraping the target itself: its /api/v1/metadata answers them.
func TestPrometheusScrapesMetadata(t *testing.T) {
	bin := backendtest.PrometheusBinary(t)
	c, _ := newSink(t, DefaultArguments())
	scrapetest.Into(t, scrapetest.TypedTarget(t), c.Appendable())
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)

	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(cfg, fmt.Appendf(nil, `global: {scrape_interval: 1s}
scrape_configs:
  - job_name: sonde
    honor_labels: true
    static_configs: [{targets: [%q]}]
`, srv.Listener.Addr().String()), 0o644))
	proc := &backendtest.Process{Name: "Prometheus"}
	var port int
	backendtest.StartOnFreePorts(t, proc, func() { port = backendtest.FreePort(t) }, func() error {
		return proc.Start(bin, []string{
			"--config.file=" + cfg, "--storage.tsdb.path=" + filepath.Join(dir, "tsdb"),
			"--web.listen-address=127.0.0.1:" + strconv.Itoa(port), "--log.level=warn",
		}, nil, backendtest.HTTPOK(fmt.Sprintf("http://127.0.0.1:%d/-/ready", port)))
	})
	proc.StopAtEnd(t, func() { proc.Stop(30 * time.Second) })

	// Prometheus asks for OpenMetrics first, where a counter's family is named without
	// _total (requests_total's family is requests), as it is for any OpenMetrics target.
	want := map[string]apiMetadata{}
	for name, f := range scrapetest.Families {
		want[strings.TrimSuffix(name, "_total")] = apiMetadata{Type: f.Type, Help: f.Help}
	}
	var got map[string][]apiMetadata
	require.Eventually(t, func() bool {
		got = metadataAPI(t, fmt.Sprintf("http://127.0.0.1:%d", port))
		for name, w := range want {
			if len(got[name]) != 1 || got[name][0] != w {
				return false
			}
		}
		return true
	}, 30*time.Second, 200*time.Millisecond, "metadata: %v", &got)
	t.Logf("Prometheus /api/v1/metadata: %v", got)
}

type apiMetadata struct {
	Type string `json:"type"`
	Help string `json:"help"`
	Unit string `json:"unit"`
}

// metadataAPI returns what Prometheus' /api/v1/metadata answers, by family.
func metadataAPI(t *testing.T, base string) map[string][]apiMetadata {
	t.Helper()
	_, body, err := backendtest.Get(context.Background(), base+"/api/v1/metadata")
	if err != nil {
		return nil
	}
	var r struct {
		Data map[string][]apiMetadata `json:"data"`
	}
	if json.Unmarshal(body, &r) != nil {
		return nil
	}
	return r.Data
}
