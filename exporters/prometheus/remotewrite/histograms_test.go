package remotewrite

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/prometheus/prometheus/tsdb/record"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/backendtest"
)

// nativeHistogram is an exponential histogram of count observations.
func nativeHistogram(count uint64) *histogram.Histogram {
	return &histogram.Histogram{
		Schema:          0,
		Count:           count,
		Sum:             float64(count) * 1.5,
		ZeroThreshold:   1e-128,
		ZeroCount:       0,
		PositiveSpans:   []histogram.Span{{Offset: 0, Length: 2}},
		PositiveBuckets: []int64{int64(count / 2), int64(count - count/2 - count/2)}, // deltas
	}
}

// TestHistogramsAndExemplarsToPrometheus3: native histograms (integer and float) and
// exemplars go through the WAL to a real Prometheus 3, over remote write 2.0 and 1.0, and
// can be queried back; an exemplar already sent (not newer than its series' last sample)
// is not sent again.
func TestHistogramsAndExemplarsToPrometheus3(t *testing.T) {
	for _, msg := range []string{protobufV2, protobufV1} {
		t.Run(msg, func(t *testing.T) {
			prom := backendtest.StartPrometheus3(t)
			args := testArgs(t, prom.WriteURL())
			args.Endpoint.ProtobufMessage = msg
			in := start(t, t.TempDir(), args, nil)

			now := time.Now().Add(-time.Minute).UnixMilli()
			hist := labels.FromStrings("__name__", "test_native_seconds", "job", "t")
			fhist := labels.FromStrings("__name__", "test_native_float", "job", "t")
			counter := labels.FromStrings("__name__", "test_requests_total", "job", "t")
			ex := exemplar.Exemplar{Labels: labels.FromStrings("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"), Value: 0.25, Ts: now - 500, HasTs: true}
			for i := range 3 {
				ts := now + int64(i)*1000
				app := in.c.Appendable().Appender(context.Background())
				_, err := app.AppendHistogram(0, hist, ts, nativeHistogram(uint64(10*(i+1))), nil)
				require.NoError(t, err)
				_, err = app.AppendHistogram(0, fhist, ts, nil, nativeHistogram(uint64(4*(i+1))).ToFloat(nil))
				require.NoError(t, err)
				_, err = app.Append(0, counter, ts, float64(i))
				require.NoError(t, err)
				_, err = app.AppendExemplar(0, counter, ex) // the same exemplar every time, as a target shows it
				require.NoError(t, err)
				require.NoError(t, app.Commit())
			}

			at := fmt.Sprintf("@ %.3f", float64(now+2000)/1000)
			queryCount(t, prom, "histogram_count(test_native_seconds "+at+") == 30", 1)
			queryCount(t, prom, "histogram_sum(test_native_float "+at+") == 18", 1)
			queryCount(t, prom, "count_over_time(test_native_seconds[5m] "+at+") == 3", 1)

			var got []exemplarResult
			require.Eventually(t, func() bool {
				got = queryExemplars(t, prom, "test_requests_total", now-60_000, now+60_000)
				return len(got) == 1
			}, 30*time.Second, 50*time.Millisecond, "exemplars: %+v; appended %v, sent %v; logs:\n%s", got,
				testutil.ToFloat64(in.c.m.exemplarsAppended), testutil.ToFloat64(in.em().exemplarsSent), in.logs.String())
			require.Len(t, got[0].Exemplars, 1, "sent once")
			require.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", got[0].Exemplars[0].Labels["trace_id"])
			require.Equal(t, "0.25", got[0].Exemplars[0].Value)

			require.Equal(t, 1.0, testutil.ToFloat64(in.c.m.exemplarsAppended))
			require.Equal(t, 2.0, testutil.ToFloat64(in.c.m.exemplarsDropped.WithLabelValues(reasonDuplicate)))
			require.Equal(t, 9.0, testutil.ToFloat64(in.c.m.samplesAppended), "6 histograms + 3 samples")
			require.Eventually(t, func() bool {
				return testutil.ToFloat64(in.em().samplesSent) == 9 && testutil.ToFloat64(in.em().exemplarsSent) == 1
			}, 10*time.Second, 10*time.Millisecond)
		})
	}
}

type exemplarResult struct {
	SeriesLabels map[string]string `json:"seriesLabels"`
	Exemplars    []struct {
		Labels    map[string]string `json:"labels"`
		Value     string            `json:"value"`
		Timestamp float64           `json:"timestamp"`
	} `json:"exemplars"`
}

// queryExemplars asks Prometheus' exemplar API for the exemplars of q between two
// millisecond timestamps.
func queryExemplars(t *testing.T, prom *backendtest.Prometheus, q string, from, to int64) []exemplarResult {
	t.Helper()
	u := fmt.Sprintf("%s/api/v1/query_exemplars?query=%s&start=%d&end=%d", prom.URL(), url.QueryEscape(q), from/1000, to/1000+1)
	code, body, err := backendtest.Get(context.Background(), u)
	require.NoError(t, err)
	require.Equal(t, 200, code, "%s", body)
	var r struct {
		Data []exemplarResult `json:"data"`
	}
	require.NoError(t, json.Unmarshal(body, &r), "%s", body)
	return r.Data
}

// TestV2ExemplarJoinsItsSample: in 2.0 an exemplar travels in the time series of its
// series' sample in the same request (a time series of only exemplars is refused with a
// 400 that would take the whole batch down); one whose sample went in an earlier request
// is left out and counted.
func TestV2ExemplarJoinsItsSample(t *testing.T) {
	args := testArgs(t, "http://127.0.0.1:1/api/v1/write")
	w := benchWAL(t)
	s, err := newSender(senderOptions{logger: slog.New(slog.DiscardHandler), m: w.m.forEndpoint("t"), w: w, cfg: args.Endpoint})
	require.NoError(t, err)
	sh := s.shards[0]
	a, _ := w.table.getOrCreate(labels.FromStrings("__name__", "a_total"), 0)
	b, _ := w.table.getOrCreate(labels.FromStrings("__name__", "b_total"), 0)
	ex := &record.RefExemplar{Labels: labels.FromStrings("trace_id", "t1"), V: 1, T: 5}
	items := []queuedSample{
		{s: a, t: 10, v: 1},
		{s: b, t: 10, v: 2},
		{s: a, t: 5, x: &extra{ex: ex}},
		{s: b, t: 5, x: &extra{h: nativeHistogram(4)}, v: 0}, // a histogram of b, then b's exemplar
		{s: b, t: 5, x: &extra{ex: ex}},
	}
	var req writev2.Request
	decode := func(body []byte) {
		pb, err := s2.Decode(nil, body)
		require.NoError(t, err)
		req = writev2.Request{}
		require.NoError(t, req.Unmarshal(pb))
	}
	decode(sh.encodeV2(items))
	require.Len(t, req.Timeseries, 3, "a's sample, b's sample, b's histogram")
	require.Len(t, req.Timeseries[0].Exemplars, 1, "a's exemplar with a's sample")
	require.Empty(t, req.Timeseries[1].Exemplars)
	require.Len(t, req.Timeseries[2].Exemplars, 1, "b's exemplar with b's latest")
	require.Zero(t, sh.exUnsent)

	decode(sh.encodeV2(items[2:3]))
	require.Empty(t, req.Timeseries, "no time series of only an exemplar")
	require.Equal(t, 1, sh.exUnsent)
	require.Equal(t, 1.0, testutil.ToFloat64(w.m.exemplarsDropped.WithLabelValues(reasonNoSample)))
}
