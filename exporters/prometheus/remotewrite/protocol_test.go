package remotewrite

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/prometheus/remotewrite/remotewritetest"
)

// model20ms is a short metadata send interval.
const model20ms = model.Duration(20 * time.Millisecond)

// protocolOf returns the protobuf_message of the endpoint's protocol_info series set to 1.
func protocolOf(t *testing.T, in *instance) string {
	t.Helper()
	var got []string
	for _, p := range []protocol{protoV1, protoV2} {
		if testutil.ToFloat64(in.em().protocol.WithLabelValues(p.message())) == 1 {
			got = append(got, p.message())
		}
	}
	require.Len(t, got, 1, "one protocol in use")
	return got[0]
}

// TestV2Sent: by default (auto) a receiver that speaks 2.0 gets 2.0 only — labels through
// the symbols table, metadata inline with every series and no metadata requests of their
// own — and the protocol in use shows in the metrics and the debug info.
func TestV2Sent(t *testing.T) {
	r := remotewritetest.NewReceiver(t)
	args := testArgs(t, r.URL)
	args.Endpoint.Metadata.SendInterval = model20ms
	args.ExternalLabels = map[string]string{"cluster": "c1"}
	in := start(t, t.TempDir(), args, nil)
	in.appendWithMetadata(t, testMeta, 1000, testMetaSeries...)
	waitSamples(t, r, len(testMetaSeries))
	in.appendSamples(t, 10, 3, 5000)
	waitSamples(t, r, len(testMetaSeries)+30)

	require.Empty(t, r.Problems())
	for _, req := range r.Requests() {
		require.True(t, req.V2, "every request is 2.0")
		require.Equal(t, "2.0.0", req.Header.Get("X-Prometheus-Remote-Write-Version"))
	}
	require.Contains(t, r.Series(), `{__name__="test_metric", cluster="c1", job="test", series="3"}`)
	inline := r.InlineMetadata()
	require.Equal(t, testHist, inline["request_duration_seconds_bucket"], "a histogram's series carry its family's metadata")
	for name, m := range testMeta {
		require.Equal(t, m, inline[name], name)
	}
	require.Empty(t, r.Metadata(), "no 1.0 metadata requests")
	require.Zero(t, testutil.ToFloat64(in.em().metadataSent))
	require.Equal(t, protobufV2, protocolOf(t, in))
	require.Zero(t, testutil.ToFloat64(in.em().protocolFallbacks))
	require.Equal(t, protobufV2, in.c.DebugInfo().(DebugInfo).ProtobufMessage)
}

// TestFallbackToV1: with auto, a receiver that knows only 1.0 — answering 415 as the 2.0
// spec asks, or 204 without *-Written headers as Prometheus 2 does, having found nothing
// in the 2.0 body — gets the batch again as 1.0, and 1.0 only from then on (one 2.0
// request in all, across a sender restart), with metadata in requests of its own. Nothing
// is lost or duplicated.
func TestFallbackToV1(t *testing.T) {
	for _, tc := range []struct {
		name string
		how  remotewritetest.V1Only
	}{
		{"415", remotewritetest.V1Answers415},
		{"2xx without written headers", remotewritetest.V1IgnoresContentType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := remotewritetest.NewReceiver(t)
			r.OnlyV1(tc.how)
			args := testArgs(t, r.URL)
			args.Endpoint.Metadata.SendInterval = model20ms
			args.Endpoint.Queue.Shards = 1 // with more, each shard's first batch may go out as 2.0 before one learns
			in := start(t, t.TempDir(), args, nil)
			in.appendWithMetadata(t, testMeta, 1000, testMetaSeries...)
			waitSamples(t, r, len(testMetaSeries))
			in.appendSamples(t, 10, 2, 5000)
			waitSamples(t, r, len(testMetaSeries)+20)

			// A changed setting restarts the sender: the choice stays.
			next := testArgs(t, r.URL)
			next.Endpoint.Metadata.SendInterval = model20ms
			next.Endpoint.Queue.Shards = 1
			next.Endpoint.Headers = map[string]string{"X-Changed": "1"}
			require.NoError(t, in.c.Update(next))
			require.Eventually(t, func() bool { return strings.Contains(in.logs.String(), "sender restarted") }, 10*time.Second, time.Millisecond)
			in.appendSamples(t, 10, 1, 9000)
			waitSamples(t, r, len(testMetaSeries)+30)
			require.Eventually(t, func() bool { return len(r.Metadata()) == 3 }, 10*time.Second, time.Millisecond, "1.0 metadata after the fallback")

			reqs := r.Requests()
			require.True(t, reqs[0].V2, "2.0 first")
			v2 := 0
			for _, req := range reqs {
				if req.V2 {
					v2++
				}
			}
			require.Equal(t, 1, v2, "one 2.0 request, then 1.0 for good")
			require.Equal(t, "1", reqs[len(reqs)-1].Header.Get("X-Changed"))
			require.Empty(t, r.Problems())
			distinct, repeated := r.Distinct()
			require.Equal(t, len(testMetaSeries)+30, distinct)
			require.Zero(t, repeated)
			require.Equal(t, 1.0, testutil.ToFloat64(in.em().protocolFallbacks))
			require.Equal(t, protobufV1, protocolOf(t, in))
			require.Equal(t, protobufV1, in.c.DebugInfo().(DebugInfo).ProtobufMessage)
			require.Equal(t, 1, strings.Count(in.logs.String(), "falling back to 1.0"), in.logs.String())
			require.Zero(t, testutil.ToFloat64(in.em().samplesRetried), "sending again as 1.0 is no retry")
		})
	}
}

// TestExplicitProtocol: protobuf_message names one protocol and no other is tried: 1.0 to
// a 2.0 receiver; 2.0 to a 1.0 receiver that answers 415 is a rejection (dropped, counted).
func TestExplicitProtocol(t *testing.T) {
	r := remotewritetest.NewReceiver(t)
	args := testArgs(t, r.URL)
	args.Endpoint.ProtobufMessage = protobufV1
	in := start(t, t.TempDir(), args, nil)
	in.appendSamples(t, 5, 2, 1000)
	waitSamples(t, r, 10)
	for _, req := range r.Requests() {
		require.False(t, req.V2)
	}
	require.Equal(t, protobufV1, protocolOf(t, in))

	r1 := remotewritetest.NewReceiver(t)
	r1.OnlyV1(remotewritetest.V1Answers415)
	args = testArgs(t, r1.URL)
	args.Endpoint.ProtobufMessage = protobufV2
	in = start(t, t.TempDir(), args, nil)
	in.appendSamples(t, 5, 1, 1000)
	require.Eventually(t, func() bool { return in.dropped(reasonHTTP4xx) == 5 }, 10*time.Second, time.Millisecond)
	for _, req := range r1.Requests() {
		require.True(t, req.V2)
	}
	require.Zero(t, testutil.ToFloat64(in.em().protocolFallbacks))
	require.Equal(t, protobufV2, protocolOf(t, in))
}

// TestPartialWrite: a 2xx whose X-Prometheus-Remote-Write-Samples-Written counts fewer
// samples than sent is not sent again (it would come back as duplicates): the shortfall is
// counted as dropped and logged.
func TestPartialWrite(t *testing.T) {
	r := remotewritetest.NewReceiver(t)
	r.Script(remotewritetest.Response{Status: http.StatusOK, Written: "3"})
	args := testArgs(t, r.URL)
	args.Endpoint.Queue.Shards = 1
	args.Endpoint.Queue.MaxSamplesPerSend = 10
	args.Endpoint.Queue.BatchSendDeadline = model20ms
	in := start(t, t.TempDir(), args, nil)
	in.appendSamples(t, 10, 1, 1000)
	require.Eventually(t, func() bool { return in.dropped(reasonPartialWrite) == 7 }, 10*time.Second, time.Millisecond)
	in.appendSamples(t, 10, 1, 2000)
	waitSamples(t, r, 20)
	require.Len(t, r.Requests(), 2, "the partial batch was not sent again")
	require.Equal(t, 13.0, testutil.ToFloat64(in.em().samplesSent))
	require.Contains(t, in.logs.String(), "receiver wrote only part of a batch")
	require.Equal(t, protobufV2, protocolOf(t, in))
}

// sigv4Authorization is the shape of a SigV4 Authorization header for Amazon Managed
// Service for Prometheus (service aps).
var sigv4Authorization = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\d{8}/eu-west-1/aps/aws4_request, SignedHeaders=[a-z0-9;-]*host[a-z0-9;-]*, Signature=[0-9a-f]{64}$`)

// TestSigV4: with sigv4 every request (2.0 samples, and 1.0 after a fallback with its
// metadata requests) is signed for the region and service aps. The receiver is a fake: a
// cloud API cannot run here; it checks the Authorization header's shape.
func TestSigV4(t *testing.T) {
	r := remotewritetest.NewReceiver(t)
	r.OnlyV1(remotewritetest.V1Answers415)
	args := testArgs(t, r.URL)
	args.Endpoint.Metadata.SendInterval = model20ms
	args.Endpoint.SigV4 = &SigV4Config{Region: "eu-west-1", AccessKey: "AKIDEXAMPLE", SecretKey: config.Secret("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")}
	in := start(t, t.TempDir(), args, nil)
	in.appendWithMetadata(t, testMeta, 1000, testMetaSeries...)
	waitSamples(t, r, len(testMetaSeries))
	require.Eventually(t, func() bool { return len(r.Metadata()) == 3 }, 10*time.Second, time.Millisecond)
	reqs := r.Requests()
	require.True(t, reqs[0].V2)
	for _, req := range reqs {
		require.Regexp(t, sigv4Authorization, req.Header.Get("Authorization"))
		require.NotEmpty(t, req.Header.Get("X-Amz-Date"))
	}
	require.Empty(t, r.Problems())
}
