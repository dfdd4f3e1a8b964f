package prometheus

import (
	"context"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/sondehq/sonde/exporters/prometheus/remotewrite"
	"github.com/sondehq/sonde/exporters/prometheus/remotewrite/remotewritetest"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// gaugeAt is one OTLP gauge point "durable_gauge" = v at t.
func gaugeAt(t time.Time, v float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "durable")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("durable_gauge")
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.NewTimestampFromTime(t))
	dp.SetDoubleValue(v)
	return md
}

// startRemoteWrite runs a prometheus.remote_write on dataPath sending to rawURL until the
// test ends, and returns it once its WAL is ready.
func startRemoteWrite(t *testing.T, host *appendableHost, dataPath, rawURL string) *remotewrite.Component {
	t.Helper()
	a := remotewrite.DefaultArguments()
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	a.Endpoint.URL = config.URL{URL: u}
	a.Endpoint.Queue.BatchSendDeadline = model.Duration(50 * time.Millisecond)
	opts := pipelinetest.Options(t, "prometheus.remote_write/default", host.Host)
	opts.DataPath = dataPath
	rw, err := remotewrite.New(opts, a)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rw.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-rw.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("remote_write not ready")
	}
	return rw
}

// TestOKMeansInWAL: an OTLP metrics request answered OK has its samples in
// prometheus.remote_write's write-ahead log, written to the file before the answer: what is
// on disk at that moment (what a SIGKILL leaves; the data directory is copied while the
// first remote_write still runs, its endpoint down) is sent by a remote_write started on it.
func TestOKMeansInWAL(t *testing.T) {
	down := remotewritetest.NewReceiver(t)
	down.FailWith(remotewritetest.Response{Status: 503})
	host := &appendableHost{Host: pipelinetest.NewHost()}
	firstPath := t.TempDir()
	first := startRemoteWrite(t, host, firstPath, down.URL)
	host.app = first.Appendable()

	a := DefaultArguments()
	a.ForwardTo = []string{"prometheus.remote_write/default"}
	opts := pipelinetest.Options(t, "otelcol.exporter.prometheus/test", host.Host)
	opts.Host = host
	c, err := New(opts, a)
	require.NoError(t, err)

	const n = 50
	start := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	accepted := 0
	for i := range n {
		require.NoError(t, c.Metrics().ConsumeMetrics(context.Background(), gaugeAt(start.Add(time.Duration(i)*time.Second), float64(i))))
		accepted++
	}

	// "kill -9": the first remote_write is never stopped; its data directory as it is now
	// is what a restart would find.
	killed := t.TempDir() + "/killed"
	require.NoError(t, os.CopyFS(killed, os.DirFS(firstPath)))

	up := remotewritetest.NewReceiver(t)
	second := &appendableHost{Host: pipelinetest.NewHost()}
	startRemoteWrite(t, second, killed, up.URL)
	var got []remotewritetest.Sample
	require.Eventually(t, func() bool {
		for s, samples := range up.Series() {
			if strings.Contains(s, `__name__="durable_gauge"`) {
				got = samples
			}
		}
		return len(got) >= n
	}, time.Minute, 20*time.Millisecond, "delivered %d of %d", len(got), n)
	seen := map[int64]bool{}
	for _, s := range got {
		seen[s.T] = true
	}
	lost := 0
	for i := range n {
		if !seen[start.Add(time.Duration(i)*time.Second).UnixMilli()] {
			lost++
		}
	}
	t.Logf("accepted %d samples (OK), delivered %d after the kill, %d lost, %d duplicated", accepted, len(got), lost, up.Duplicates())
	require.Zero(t, lost)
	require.Empty(t, up.Problems())
}
