package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/backendtest"
)

// TestE2EHostPresetToPrometheus: `sonde run --prometheus-url` with the built-in host preset
// delivers node_exporter's series, with node_exporter's names and labels, to a real Prometheus.
func TestE2EHostPresetToPrometheus(t *testing.T) {
	prom := backendtest.StartPrometheus(t)
	t.Setenv("SONDE_OTLP_GRPC_LISTEN", fmt.Sprintf("127.0.0.1:%d", backendtest.FreePort(t)))
	t.Setenv("SONDE_OTLP_HTTP_LISTEN", fmt.Sprintf("127.0.0.1:%d", backendtest.FreePort(t)))
	s := newSonde(t, "--preset=host", "--prometheus-url="+prom.URL())
	host, err := os.Hostname()
	require.NoError(t, err)

	for _, q := range []string{
		fmt.Sprintf(`node_memory_MemTotal_bytes{job="node-exporter",instance=%q}`, host),
		fmt.Sprintf(`node_cpu_seconds_total{job="node-exporter",instance=%q,mode="idle",cpu="0"}`, host),
		`node_load1{job="node-exporter"}`,
		`node_filesystem_avail_bytes{job="node-exporter",mountpoint="/"}`,
		`node_scrape_collector_success{job="node-exporter",collector="cpu"} == 1`,
		`up{job="node-exporter"} == 1`,
		`sonde_build_info{job="sonde"}`,
	} {
		require.Eventually(t, func() bool {
			res, err := prom.Query(context.Background(), q)
			return err == nil && len(res) > 0
		}, 90*time.Second, time.Second, "no result for %s", q)
	}

	// Every component of the preset is healthy and listed by the API.
	var comps []struct {
		ID     string `json:"id"`
		Health struct {
			State string `json:"state"`
		} `json:"health"`
	}
	backendtest.FetchJSON(t, s.URL()+"/api/v1/components", &comps)
	var ids []string
	for _, c := range comps {
		ids = append(ids, c.ID)
		want := "healthy"
		if c.ID == "prometheus.exporter.gpu/gpu" && !hasNVIDIAGPU() {
			want = "unavailable" // no GPU here: reported, not an error
		}
		require.Equal(t, want, c.Health.State, c.ID)
	}
	require.ElementsMatch(t, []string{"prometheus.exporter.unix/host", "prometheus.exporter.gpu/gpu", "prometheus.exporter.self/sonde",
		"prometheus.scrape/host", "prometheus.remote_write/default", "loki.source.file/pods", "loki.echo/stdout",
		"otelcol.receiver.otlp/default", "otelcol.processor.memory_limiter/default", "otelcol.processor.batch/default",
		"otelcol.exporter.prometheus/default", "otelcol.exporter.loki/default"}, ids)
	code, _ := backendtest.Fetch(t, http.MethodGet, s.URL()+"/-/ready")
	require.Equal(t, http.StatusOK, code)
}

// outageConfig scrapes a counter that counts its own scrapes every second and remote-writes
// it to prom: every value 1..N must arrive, so any lost sample shows as a gap.
func outageConfig(target, promURL string) string {
	return fmt.Sprintf(`
components:
  prometheus.scrape/counter:
    static_configs: [{targets: [%q]}]
    job_name: e2e
    scrape_interval: 1s
    scrape_timeout: 900ms
    forward_to: [prometheus.remote_write/prom]
  prometheus.remote_write/prom:
    endpoint:
      url: %s/api/v1/write
      queue:
        batch_send_deadline: 1s
        min_backoff: 100ms
        max_backoff: 2s
`, target, promURL)
}

// requireConsecutive checks that values are exactly first, first+1, …, without gaps or
// repeats, except for the values listed in mayMiss.
func requireConsecutive(t *testing.T, values []float64, first, last int, mayMiss ...int) {
	t.Helper()
	got := map[int]int{}
	for _, v := range values {
		got[int(v)]++
	}
	var missing, repeated []int
	for i := first; i <= last; i++ {
		if got[i] == 0 && !slices.Contains(mayMiss, i) {
			missing = append(missing, i)
		}
		if got[i] > 1 {
			repeated = append(repeated, i)
		}
	}
	require.Empty(t, missing, "samples lost (of %d..%d)", first, last)
	require.Empty(t, repeated, "samples stored twice")
	require.True(t, slices.IsSorted(values), "values out of order: %v", values)
}

func outageSeconds() time.Duration {
	if v := os.Getenv("SONDE_E2E_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err == nil {
			return d
		}
	}
	return 60 * time.Second
}

// TestE2EPrometheusOutage: Prometheus is stopped for 60 s; every sample scraped meanwhile
// arrives once it is back.
func TestE2EPrometheusOutage(t *testing.T) {
	prom := backendtest.StartPrometheus(t)
	target := newCounterTarget(t)
	s := newSonde(t, "--config="+writeConfig(t, outageConfig(target.addr, prom.URL())))

	require.Eventually(t, func() bool { return len(rawValues(t, prom, `e2e_scrapes_total`, "10m")) >= 3 },
		60*time.Second, 500*time.Millisecond, "samples never reached Prometheus")
	prom.Stop()
	before := target.count()
	time.Sleep(outageSeconds())
	during := target.count() - before
	require.Greater(t, during, int(outageSeconds().Seconds()/2), "sonde kept scraping during the outage")
	require.Greater(t, s.metric(t, "sonde_remote_write_samples_retried_total")+s.metric(t, "sonde_remote_write_requests_retried_total"), 0.0,
		"sends were retried while Prometheus was down")

	prom.Restart()
	last := target.count()
	require.Eventually(t, func() bool {
		v := rawValues(t, prom, `e2e_scrapes_total`, "10m")
		return len(v) > 0 && int(v[len(v)-1]) >= last
	}, 120*time.Second, time.Second, "backlog did not arrive after Prometheus came back")
	requireConsecutive(t, rawValues(t, prom, `e2e_scrapes_total`, "10m"), 1, last)
}

// TestE2ECrashDuringOutage: sonde is SIGKILLed while Prometheus is down and started again on
// the same storage; the backlog written before the crash arrives, and nothing after it is lost.
func TestE2ECrashDuringOutage(t *testing.T) {
	prom := backendtest.StartPrometheus(t)
	target := newCounterTarget(t)
	s := newSonde(t, "--config="+writeConfig(t, outageConfig(target.addr, prom.URL())))
	require.Eventually(t, func() bool { return len(rawValues(t, prom, `e2e_scrapes_total`, "10m")) >= 2 },
		60*time.Second, 500*time.Millisecond)

	prom.Stop()
	time.Sleep(15 * time.Second) // a backlog builds up in the WAL
	s.proc.Kill()
	killedAt := target.count() // the scrape served last may not have reached the WAL
	s.start()
	time.Sleep(5 * time.Second)
	prom.Restart()

	last := target.count()
	require.Greater(t, last, killedAt, "sonde scrapes again after the restart")
	require.Eventually(t, func() bool {
		v := rawValues(t, prom, `e2e_scrapes_total`, "10m")
		return len(v) > 0 && int(v[len(v)-1]) >= last
	}, 120*time.Second, time.Second, "data did not arrive after the restart")
	requireConsecutive(t, rawValues(t, prom, `e2e_scrapes_total`, "10m"), 1, last, killedAt)
}

// TestE2EReload: a bad config is rejected with file:line and the graph keeps running; a good
// change is applied on SIGHUP, on POST /-/reload, and on a file change.
func TestE2EReload(t *testing.T) {
	target := newCounterTarget(t)
	good := func(name string) string {
		return fmt.Sprintf(`
components:
  prometheus.scrape/%s:
    static_configs: [{targets: [%q]}]
    scrape_interval: 1s
    scrape_timeout: 500ms
    forward_to: [prometheus.serve/local]
  prometheus.serve/local: {}
  prometheus.remote_write/secret:
    endpoint:
      url: http://127.0.0.1:1/api/v1/write
      basic_auth: {username: u, password: hunter2}
`, name, target.addr)
	}
	cfg := writeConfig(t, good("a"))
	s := newSonde(t, "--config="+cfg)
	ids := func() []string {
		var comps []struct{ ID string }
		backendtest.FetchJSON(t, s.URL()+"/api/v1/components", &comps)
		var out []string
		for _, c := range comps {
			out = append(out, c.ID)
		}
		slices.Sort(out)
		return out
	}
	require.Equal(t, []string{"prometheus.remote_write/secret", "prometheus.scrape/a", "prometheus.serve/local"}, ids())

	// Secrets never leave the process.
	_, body := backendtest.Fetch(t, http.MethodGet, s.URL()+"/api/v1/components")
	require.NotContains(t, body, "hunter2")
	require.Contains(t, body, "<secret>")

	// A bad config: rejected with file and line, nothing changes.
	require.NoError(t, os.WriteFile(cfg, []byte(strings.Replace(good("b"), "scrape_interval: 1s", "scrape_intervall: 1s", 1)), 0o644))
	code, body := s.reload(t)
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, body, cfg+":5: prometheus.scrape/b: scrape_intervall: unknown field")
	require.Equal(t, []string{"prometheus.remote_write/secret", "prometheus.scrape/a", "prometheus.serve/local"}, ids())
	require.Equal(t, 0.0, s.metric(t, "sonde_config_last_reload_successful"))

	// A good change, picked up from the file itself.
	require.NoError(t, os.WriteFile(cfg, []byte(good("c")), 0o644))
	require.Eventually(t, func() bool { return slices.Contains(ids(), "prometheus.scrape/c") }, 30*time.Second, 100*time.Millisecond)
	require.Equal(t, 1.0, s.metric(t, "sonde_config_last_reload_successful"))

	// SIGHUP.
	require.NoError(t, os.WriteFile(cfg+".next", []byte(good("d")), 0o644))
	require.NoError(t, os.Rename(cfg+".next", cfg))
	require.NoError(t, s.proc.Signal(syscall.SIGHUP))
	require.Eventually(t, func() bool { return slices.Contains(ids(), "prometheus.scrape/d") }, 30*time.Second, 100*time.Millisecond)

	// The scraped samples are served for pull by prometheus.serve.
	require.Eventually(t, func() bool {
		_, body, err := backendtest.Get(context.Background(), s.URL()+"/api/v1/components/prometheus.serve/local/metrics")
		return err == nil && strings.Contains(string(body), "e2e_scrapes_total{")
	}, 30*time.Second, 200*time.Millisecond)

	// Graceful shutdown.
	s.proc.Stop(90 * time.Second)
	require.NoError(t, s.proc.ExitErr(), "sonde exits 0 on SIGTERM")
}

func hasNVIDIAGPU() bool {
	_, err := os.Stat("/dev/nvidiactl")
	return err == nil
}
