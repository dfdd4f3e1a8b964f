package scrape

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

func TestTargetsSummaryUnhealthy(t *testing.T) {
	tests := []struct {
		name     string
		up, down int
		ratio    float64
		want     bool
	}{
		{name: "all down", down: 3, ratio: 1, want: true},
		{name: "one of three up", up: 1, down: 2, ratio: 1},
		{name: "none scraped", ratio: 1},
		{name: "all up", up: 3, ratio: 0.5},
		{name: "half down, majority rule", up: 1, down: 1, ratio: 0.5, want: true},
		{name: "a third down, majority rule", up: 2, down: 1, ratio: 0.5},
		{name: "3 of 10 at 0.3, despite float rounding", up: 7, down: 3, ratio: 0.3, want: true},
		{name: "any down at a tiny ratio", up: 99, down: 1, ratio: 0.01, want: true},
		{name: "ratio 0 never", down: 3, ratio: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := targetsSummary{total: tc.up + tc.down, up: tc.up, down: tc.down, err: "x"}
			require.Equal(t, tc.want, s.unhealthy(tc.ratio))
		})
	}
}

func registry(t *testing.T, c *Component) *prometheus.Registry {
	t.Helper()
	return c.opts.Registerer.(*prometheus.Registry)
}

// TestHealthTargetsDown is the kubelet case found on a node: every target fails its TLS
// handshake (a CA the agent does not trust). The component reports it in its health with
// the error, logs it once rather than per scrape, counts it in
// sonde_prometheus_scrape_targets_down, and is healthy again once the targets recover.
func TestHealthTargetsDown(t *testing.T) {
	var exps []*exporter
	var addrs []string
	for range 3 {
		e := newExporter(t, true, text("secure 1\n"))
		exps = append(exps, e)
		addrs = append(addrs, fmt.Sprintf("%q", e.addr()))
	}
	static := fmt.Sprintf("scheme: https\nstatic_configs: [{targets: [%s]}]\n", strings.Join(addrs, ", "))
	logs := &pipelinetest.LogBuffer{}
	host := pipelinetest.NewHost()
	opts := pipelinetest.Options(t, testID, host)
	opts.Logger = logs.Logger(slog.LevelInfo)
	c, err := New(opts, decode(t, fastArgs+static))
	require.NoError(t, err)
	pipelinetest.Run(t, c)

	require.Eventually(t, func() bool {
		h := opts.Health.Get()
		return h.State == pipeline.HealthUnhealthy && strings.HasPrefix(h.Message, "3/3 targets down: ")
	}, wait, tick, "health: %+v", opts.Health.Get())
	h := opts.Health.Get()
	require.Contains(t, h.Message, "x509: certificate signed by unknown authority")
	for _, ts := range c.Targets() {
		require.Equal(t, "down", ts.Health, "per-target health, as the API and UI show it")
		require.Contains(t, ts.LastError, "x509")
	}
	// More scrapes fail (every 100ms); the transition was logged once.
	first := c.Targets()[0].LastScrape
	require.Eventually(t, func() bool { return c.Targets()[0].LastScrape.Sub(first) >= 300*time.Millisecond }, wait, tick)
	require.Equal(t, 1, logs.Count("scrape targets down"))
	require.Equal(t, 3.0, pipelinetest.MetricSum(t, registry(t, c), "sonde_prometheus_scrape_targets_down"))

	// The agent is given the CA: the targets come back, and so does the component.
	require.NoError(t, c.Update(decode(t, fastArgs+static+fmt.Sprintf("tls_config: {ca_file: %q}\n", exps[0].caFile(t)))))
	require.Eventually(t, func() bool { return opts.Health.Get().State == pipeline.HealthHealthy }, wait, tick)
	// Healthy as soon as not every target is down (the default ratio); the gauge reaches 0
	// once the last of the three has been scraped again.
	require.Eventually(t, func() bool {
		return pipelinetest.MetricSum(t, registry(t, c), "sonde_prometheus_scrape_targets_down") == 0
	}, wait, tick)
	require.Equal(t, 1, logs.Count("scrape targets back up"))
}

// TestHealthMajorityDown: with unhealthy_down_ratio 0.5, one target of two down is enough;
// with the default, it is not.
func TestHealthMajorityDown(t *testing.T) {
	up := newExporter(t, false, text("ok 1\n"))
	down := newExporter(t, true, text("ok 1\n")) // scraped over http: the TLS server answers 400
	static := fmt.Sprintf("static_configs: [{targets: [%q, %q]}]\n", up.addr(), down.addr())
	for _, tc := range []struct {
		ratio string
		want  pipeline.HealthState
	}{{"", pipeline.HealthHealthy}, {"unhealthy_down_ratio: 0.5\n", pipeline.HealthUnhealthy}} {
		t.Run("ratio "+tc.ratio, func(t *testing.T) {
			host := pipelinetest.NewHost()
			c := start(t, host, decode(t, fastArgs+static+tc.ratio))
			require.Eventually(t, func() bool {
				ts := c.Targets()
				return len(ts) == 2 && ts[0].Health != "unknown" && ts[1].Health != "unknown" &&
					pipelinetest.MetricSum(t, registry(t, c), "sonde_prometheus_scrape_targets_down") == 1
			}, wait, tick)
			require.Eventually(t, func() bool { return c.opts.Health.Get().State == tc.want }, wait, tick)
			if tc.want == pipeline.HealthUnhealthy {
				require.True(t, strings.HasPrefix(c.opts.Health.Get().Message, "1/2 targets down: "), c.opts.Health.Get().Message)
			}
		})
	}
}
