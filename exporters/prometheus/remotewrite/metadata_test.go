package remotewrite

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/components/prometheus/scrape/scrapetest"
	"github.com/sondehq/sonde/exporters/backendtest"
	"github.com/sondehq/sonde/exporters/prometheus/remotewrite/remotewritetest"
)

// appendWithMetadata commits one sample per series at t and reports each series' metadata
// (by metric name) as a scrape does for new series.
func (in *instance) appendWithMetadata(t testing.TB, meta map[string]metadata.Metadata, t0 int64, series ...labels.Labels) {
	t.Helper()
	app := in.c.Appendable().Appender(context.Background())
	for _, ls := range series {
		ref, err := app.Append(0, ls, t0, 1)
		require.NoError(t, err)
		if m, ok := meta[ls.Get("__name__")]; ok {
			_, err = app.UpdateMetadata(ref, ls, m)
			require.NoError(t, err)
		}
	}
	require.NoError(t, app.Commit())
}

var (
	testHist = metadata.Metadata{Type: model.MetricTypeHistogram, Help: "Request latency.", Unit: "seconds"}
	testMeta = map[string]metadata.Metadata{
		"requests_total":                  {Type: model.MetricTypeCounter, Help: "Requests served."},
		"temperature_celsius":             {Type: model.MetricTypeGauge, Help: "Room temperature.", Unit: "celsius"},
		"request_duration_seconds_bucket": testHist,
		"request_duration_seconds_sum":    testHist,
		"request_duration_seconds_count":  testHist,
	}
	testMetaSeries = []labels.Labels{
		labels.FromStrings("__name__", "requests_total", "code", "200"),
		labels.FromStrings("__name__", "requests_total", "code", "500"),
		labels.FromStrings("__name__", "temperature_celsius"),
		labels.FromStrings("__name__", "request_duration_seconds_bucket", "le", "1"),
		labels.FromStrings("__name__", "request_duration_seconds_bucket", "le", "+Inf"),
		labels.FromStrings("__name__", "request_duration_seconds_sum"),
		labels.FromStrings("__name__", "request_duration_seconds_count"),
		labels.FromStrings("__name__", "no_metadata"),
	}
	testMetaWant = map[string]prompb.MetricMetadata{
		"requests_total": {Type: prompb.MetricMetadata_COUNTER, MetricFamilyName: "requests_total", Help: "Requests served."},
		"temperature_celsius": {Type: prompb.MetricMetadata_GAUGE, MetricFamilyName: "temperature_celsius",
			Help: "Room temperature.", Unit: "celsius"},
		"request_duration_seconds": {Type: prompb.MetricMetadata_HISTOGRAM, MetricFamilyName: "request_duration_seconds",
			Help: "Request latency.", Unit: "seconds"},
	}
)

// TestMetadataSent: metadata reported with the samples is sent as Prometheus sends it —
// requests of MetricMetadata only, one per family, every send_interval, at most
// max_samples_per_send families a request — and a family whose series are all collected is
// forgotten.
func TestMetadataSent(t *testing.T) {
	r := remotewritetest.NewReceiver(t)
	r.OnlyV1(remotewritetest.V1Answers415) // 1.0 after the fallback: metadata of its own
	args := testArgs(t, r.URL)
	args.Endpoint.Metadata.SendInterval = model.Duration(20 * time.Millisecond)
	args.Endpoint.Metadata.MaxSamplesPerSend = 2
	in := start(t, t.TempDir(), args, nil)
	in.appendWithMetadata(t, testMeta, 1000, testMetaSeries...)

	waitSamples(t, r, len(testMetaSeries))
	require.Eventually(t, func() bool { return len(r.Metadata()) == 3 }, 10*time.Second, time.Millisecond)
	require.Equal(t, testMetaWant, r.Metadata())
	// Sent again every interval: wait for a few rounds.
	require.Eventually(t, func() bool { return testutil.ToFloat64(in.em().metadataSent) >= 9 }, 10*time.Second, time.Millisecond)
	for _, req := range r.Requests() {
		if req.Metadata > 0 {
			require.Zero(t, req.Samples, "metadata goes in requests of its own")
			require.LessOrEqual(t, req.Metadata, 2, "max_samples_per_send")
		}
	}
	require.Empty(t, r.Problems())
	require.Equal(t, 5.0, testutil.ToFloat64(in.c.m.metadataNames), "names with metadata (the truncation has not run)")

	// Series collected: their metadata goes with them.
	w := in.c.wal.Load()
	seg := w.currentSegment()
	w.commitMu.Lock()
	w.table.gc(seg+1, w.epoch.Load()+1, 0)
	w.commitMu.Unlock()
	in.c.pruneMetadata(w)
	require.Equal(t, 0.0, testutil.ToFloat64(in.c.m.metadataNames))
	require.Empty(t, w.meta.families())
}

// TestMetadataFailures: a rejected metadata request is dropped and counted, a failing one
// retried until the next interval supersedes it; samples are not held back by either.
func TestMetadataFailures(t *testing.T) {
	r := remotewritetest.NewReceiver(t)
	r.Script(remotewritetest.Response{Status: http.StatusBadRequest, Body: "bad metadata"})
	args := testArgs(t, r.URL)
	args.Endpoint.ProtobufMessage = protobufV1
	args.Endpoint.Metadata.SendInterval = model.Duration(50 * time.Millisecond)
	args.Endpoint.Queue.BatchSendDeadline = model.Duration(time.Hour) // samples only once the batch is full
	args.Endpoint.Queue.MaxSamplesPerSend = 1000
	in := start(t, t.TempDir(), args, nil)
	in.appendWithMetadata(t, testMeta, 1000, testMetaSeries...)
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(in.em().metadataDropped.WithLabelValues(reasonHTTP4xx)) == 3
	}, 10*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return len(r.Metadata()) == 3 }, 10*time.Second, time.Millisecond, "the next interval sends it again")

	r.FailWith(remotewritetest.Response{Status: http.StatusServiceUnavailable})
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(in.em().metadataDropped.WithLabelValues(reasonSuperseded)) >= 3
	}, 10*time.Second, time.Millisecond)
	require.Contains(t, in.logs.String(), "receiver rejected metadata")
}

// TestMetadataNotSent: with metadata_config.send false nothing but samples is sent.
func TestMetadataNotSent(t *testing.T) {
	r := remotewritetest.NewReceiver(t)
	args := testArgs(t, r.URL)
	args.Endpoint.Metadata = MetadataConfig{Send: false}
	in := start(t, t.TempDir(), args, nil)
	in.appendWithMetadata(t, testMeta, 1000, testMetaSeries...)
	waitSamples(t, r, len(testMetaSeries))
	in.stop(t)
	for _, req := range r.Requests() {
		require.Zero(t, req.Metadata)
	}
	require.Zero(t, testutil.ToFloat64(in.em().metadataSent))
}

// TestScrapedMetadataSent: what prometheus.scrape reads of a target's families reaches the
// receiver as remote-write 1.0 metadata.
func TestScrapedMetadataSent(t *testing.T) {
	r := remotewritetest.NewReceiver(t)
	args := testArgs(t, r.URL)
	args.Endpoint.ProtobufMessage = protobufV1
	args.Endpoint.Metadata.SendInterval = model.Duration(100 * time.Millisecond)
	in := start(t, t.TempDir(), args, nil)
	scrapetest.Into(t, scrapetest.TypedTarget(t), in.c.Appendable())
	require.Eventually(t, func() bool {
		got := r.Metadata()
		for name, f := range scrapetest.Families {
			if g := got[name]; g.MetricFamilyName != name || g.Type != prompb.FromMetadataType(model.MetricType(f.Type)) || g.Help != f.Help {
				return false
			}
		}
		return got["up"].Type == prompb.MetricMetadata_GAUGE
	}, 10*time.Second, 10*time.Millisecond, "metadata: %v", r.Metadata())
	require.Empty(t, r.Problems())
}

// TestScrapedMetadataToPrometheus: against a real Prometheus, the metadata requests are
// accepted (none dropped) and the samples arrive. Prometheus keeps remote-written metadata
// nowhere it can be read back: its /api/v1/metadata answers from its own scrape targets
// only, and its remote-write receiver ignores remote write 1.0 metadata (see docs).
func TestScrapedMetadataToPrometheus(t *testing.T) {
	prom := backendtest.StartPrometheus(t)
	args := testArgs(t, prom.WriteURL())
	args.Endpoint.Metadata.SendInterval = model.Duration(100 * time.Millisecond)
	in := start(t, t.TempDir(), args, nil)
	scrapetest.Into(t, scrapetest.TypedTarget(t), in.c.Appendable())
	require.Eventually(t, func() bool {
		res, err := prom.Query(context.Background(), `latency_seconds_count{job="app"}`)
		return err == nil && len(res) == 1
	}, 30*time.Second, 100*time.Millisecond)
	w := in.c.wal.Load()
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(in.em().metadataSent) >= 2*float64(len(w.meta.families()))
	}, 30*time.Second, 10*time.Millisecond, "two rounds of every family")
	require.Zero(t, testutil.CollectAndCount(in.em().metadataDropped), "no metadata dropped")
}
