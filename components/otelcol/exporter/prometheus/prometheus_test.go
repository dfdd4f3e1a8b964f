package prometheus

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
	"github.com/sondehq/sonde/exporters/prometheus/remotewrite"
	"github.com/sondehq/sonde/exporters/prometheus/remotewrite/remotewritetest"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// metricsFixture is a gauge, a cumulative sum with a unit, a histogram and a delta sum
// (which Prometheus' translation refuses), from a Kubernetes pod.
func metricsFixture() pmetric.Metrics {
	md := oteltest.Metrics(map[string]string{
		"service.instance.id": "checkout-1", "k8s.namespace.name": "shop", "k8s.pod.name": "checkout-1",
	})
	sm := md.ResourceMetrics().At(0).ScopeMetrics().At(0)
	ts := pcommon.NewTimestampFromTime(time.Unix(1700000000, 0))
	for i := 0; i < sm.Metrics().Len(); i++ {
		m := sm.Metrics().At(i)
		switch m.Type() {
		case pmetric.MetricTypeGauge:
			m.Gauge().DataPoints().At(0).SetTimestamp(ts)
		case pmetric.MetricTypeSum:
			m.Sum().DataPoints().At(0).SetTimestamp(ts)
		}
	}
	h := sm.Metrics().AppendEmpty()
	h.SetName("rpc.server.duration")
	h.SetUnit("ms")
	hist := h.SetEmptyHistogram()
	hist.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp := hist.DataPoints().AppendEmpty()
	dp.SetTimestamp(ts)
	dp.SetCount(3)
	dp.SetSum(42)
	dp.ExplicitBounds().FromRaw([]float64{10, 100})
	dp.BucketCounts().FromRaw([]uint64{1, 1, 1})
	d := sm.Metrics().AppendEmpty()
	d.SetName("requests.delta")
	ds := d.SetEmptySum()
	ds.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	ds.SetIsMonotonic(true)
	ddp := ds.DataPoints().AppendEmpty()
	ddp.SetTimestamp(ts)
	ddp.SetIntValue(5)
	return md
}

func TestTranslation(t *testing.T) {
	host := pipelinetest.NewHost()
	a := DefaultArguments()
	a.ForwardTo = []string{"prometheus.remote_write/default"}
	a.PromoteResourceAttributes = []string{"k8s.namespace.name"}
	c, err := New(pipelinetest.Options(t, "otelcol.exporter.prometheus/test", host), a)
	require.NoError(t, err)
	_, traces := any(c).(pipeline.OTLPTracesReceiver)
	_, logs := any(c).(pipeline.OTLPLogsReceiver)
	require.False(t, traces || logs, "metrics only")

	require.NoError(t, c.Metrics().ConsumeMetrics(context.Background(), metricsFixture()))
	var lines []string
	for _, s := range host.Sink.Samples() {
		lines = append(lines, fmt.Sprintf("%s %g", s.Labels.String(), s.V))
	}
	sort.Strings(lines)
	golden(t, "samples.golden", strings.Join(lines, "\n")+"\n")
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create it")
	require.Equal(t, string(want), got)
}

// TestThroughRemoteWrite sends OTLP metrics through prometheus.remote_write (its WAL and
// queue) to a remote-write receiver that checks the protocol.
func TestThroughRemoteWrite(t *testing.T) {
	recv := remotewritetest.NewReceiver(t)
	host := &appendableHost{Host: pipelinetest.NewHost()}
	rwArgs := remotewrite.DefaultArguments()
	u, err := url.Parse(recv.URL)
	require.NoError(t, err)
	rwArgs.Endpoint.URL = config.URL{URL: u}
	rwArgs.Endpoint.Queue.BatchSendDeadline = model.Duration(50 * time.Millisecond)
	rw, err := remotewrite.New(pipelinetest.Options(t, "prometheus.remote_write/default", host.Host), rwArgs)
	require.NoError(t, err)
	host.app = rw.Appendable()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rw.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	a := DefaultArguments()
	a.ForwardTo = []string{"prometheus.remote_write/default"}
	opts := pipelinetest.Options(t, "otelcol.exporter.prometheus/test", host.Host)
	opts.Host = host
	c, err := New(opts, a)
	require.NoError(t, err)
	md := metricsFixture()
	now := pcommon.NewTimestampFromTime(time.Now())
	md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(1).Sum().DataPoints().At(0).SetTimestamp(now)
	// Until remote_write has started, the append is refused (retryable): the sender retries.
	require.Eventually(t, func() bool {
		cp := pmetric.NewMetrics()
		md.CopyTo(cp)
		return c.Metrics().ConsumeMetrics(context.Background(), cp) == nil
	}, 30*time.Second, 10*time.Millisecond)

	require.Eventually(t, func() bool {
		for s := range recv.Series() {
			if strings.Contains(s, `__name__="http_server_request_duration_seconds_total"`) &&
				strings.Contains(s, `job="sonde-test"`) && strings.Contains(s, `instance="checkout-1"`) {
				return true
			}
		}
		return false
	}, 30*time.Second, 20*time.Millisecond, "series never reached the receiver: %v", recv.Series())
	require.Empty(t, recv.Problems())
}

// appendableHost is a fake host whose Appendable is a real remote_write component.
type appendableHost struct {
	*pipelinetest.Host
	app pipeline.Appendable
}

func (h *appendableHost) Appendable([]string) pipeline.Appendable { return h.app }

func TestValidate(t *testing.T) {
	a := DefaultArguments()
	require.ErrorContains(t, a.Validate(), "forward_to")
	a.ForwardTo = []string{"x"}
	a.IgnoreResourceAttributes = []string{"y"}
	require.ErrorContains(t, a.Validate(), "ignore_resource_attributes")
}

func TestLifecycle(t *testing.T) {
	a := DefaultArguments()
	a.ForwardTo = []string{"prometheus.remote_write/default"}
	b := *a
	b.AddMetricSuffixes = false
	pipelinetest.Lifecycle(t, Registration, a, &b)
}
