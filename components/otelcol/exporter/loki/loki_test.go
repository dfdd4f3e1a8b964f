package loki

import (
	"context"
	"errors"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/sondehq/sonde/components/otelcol/receiver/otlp"
	"github.com/sondehq/sonde/exporters/backendtest"
	"github.com/sondehq/sonde/exporters/loki/write"
	"github.com/sondehq/sonde/exporters/loki/write/lokitest"
	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
	"github.com/sondehq/sonde/internal/otelcol"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

func record() plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "checkout")
	rl.Resource().Attributes().PutStr("k8s.pod.name", "checkout-1")
	rl.Resource().Attributes().PutStr("host.name", "node-1")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("app/logger")
	lr := sl.LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Unix(1700000000, 5)))
	lr.SetSeverityText("ERROR")
	lr.SetSeverityNumber(plog.SeverityNumberError)
	lr.SetTraceID(oteltest.TraceID(7))
	lr.SetSpanID(oteltest.SpanID(8))
	lr.Attributes().PutStr("http.method", "GET")
	lr.Body().SetStr("payment failed")
	m := sl.LogRecords().AppendEmpty()
	m.SetObservedTimestamp(pcommon.NewTimestampFromTime(time.Unix(1700000001, 0)))
	m.Body().SetEmptyMap().PutStr("msg", "structured")
	return ld
}

func TestConvert(t *testing.T) {
	now := time.Unix(1800000000, 0)
	entries := convert(record(), labelSet(DefaultLabelAttributes), now)
	require.Len(t, entries, 2)
	e := entries[0]
	require.Equal(t, model.LabelSet{"service_name": "checkout", "k8s_pod_name": "checkout-1"}, e.Labels)
	require.True(t, time.Unix(1700000000, 5).Equal(e.Timestamp), "%v", e.Timestamp)
	require.Equal(t, "payment failed", e.Line)
	require.Equal(t, "node-1", e.StructuredMetadata.Get("host_name"))
	require.Equal(t, "GET", e.StructuredMetadata.Get("http_method"))
	require.Equal(t, "ERROR", e.StructuredMetadata.Get("severity_text"))
	require.Equal(t, oteltest.TraceID(7).String(), e.StructuredMetadata.Get("trace_id"))
	require.Equal(t, oteltest.SpanID(8).String(), e.StructuredMetadata.Get("span_id"))
	require.Equal(t, "app/logger", e.StructuredMetadata.Get("scope_name"))

	require.True(t, time.Unix(1700000001, 0).Equal(entries[1].Timestamp), "observed time when there is no time")
	require.JSONEq(t, `{"msg":"structured"}`, entries[1].Line)

	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("x")
	entries = convert(ld, labelSet(DefaultLabelAttributes), now)
	require.Equal(t, model.LabelSet{"service_name": "unknown_service"}, entries[0].Labels)
	require.True(t, now.Equal(entries[0].Timestamp))
}

func TestLabelName(t *testing.T) {
	for in, want := range map[string]string{"k8s.pod.name": "k8s_pod_name", "1abc": "_1abc", "a-b/c": "a_b_c", "ok_Name9": "ok_Name9"} {
		require.Equal(t, want, labelName(in))
	}
}

func newBridge(t *testing.T, host *pipelinetest.Host, ackTimeout time.Duration) *Component {
	t.Helper()
	a := DefaultArguments()
	a.ForwardTo = []string{"loki.write/default"}
	a.AckTimeout = model.Duration(ackTimeout)
	opts := pipelinetest.Options(t, "otelcol.exporter.loki/default", host)
	c, err := New(opts, a)
	require.NoError(t, err)
	host.Export(opts.ID, c)
	return c
}

func TestWaitsForAck(t *testing.T) {
	host := pipelinetest.NewHost()
	c := newBridge(t, host, time.Minute)
	require.NoError(t, c.Logs().ConsumeLogs(context.Background(), record()))
	require.Len(t, host.LogsSink.Entries(), 2)

	host.LogsSink.Hold(true)
	errc := make(chan error, 1)
	go func() { errc <- c.Logs().ConsumeLogs(context.Background(), record()) }()
	require.Eventually(t, func() bool { return len(host.LogsSink.Entries()) == 4 }, 10*time.Second, time.Millisecond)
	select {
	case err := <-errc:
		t.Fatalf("answered before the acknowledgement: %v", err)
	default:
	}
	require.Equal(t, 1, host.LogsSink.AckHeld(errors.New("400 entry too far behind")))
	require.Equal(t, codes.InvalidArgument, status.Code(<-errc), "refused for good: no retry")
}

func TestUnconfirmedIsRetryable(t *testing.T) {
	host := pipelinetest.NewHost()
	host.LogsSink.Hold(true)
	c := newBridge(t, host, 20*time.Millisecond)
	err := c.Logs().ConsumeLogs(context.Background(), record())
	require.Equal(t, codes.Unavailable, status.Code(err))
}

// TestLokiDownTracesStillFlow: while Loki is down (loki.write never acknowledges), OTLP log
// requests wait and are asked to retry, and traces and metrics on the same receiver keep
// flowing.
func TestLokiDownTracesStillFlow(t *testing.T) {
	host := pipelinetest.NewHost()
	host.LogsSink.Hold(true)
	sink := oteltest.NewSink().Register(host, "sink")
	newBridge(t, host, 2*time.Second)

	g := otlp.DefaultGRPC()
	g.Endpoint = backendtest.FreeAddr(t)
	ra := &otlp.Arguments{GRPC: &g, Output: otelcol.Output{
		Traces: []string{"sink"}, Metrics: []string{"sink"}, Logs: []string{"otelcol.exporter.loki/default"},
	}}
	r, err := otlp.New(pipelinetest.Options(t, "otelcol.receiver.otlp/default", host), ra)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", g.Endpoint)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 30*time.Second, 10*time.Millisecond)
	conn, err := grpc.NewClient(g.Endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()

	logsDone := make(chan error, 3)
	for range 3 {
		go func() {
			_, err := plogotlp.NewGRPCClient(conn).Export(context.Background(), plogotlp.NewExportRequestFromLogs(record()))
			logsDone <- err
		}()
	}
	for i := range 20 {
		_, err := ptraceotlp.NewGRPCClient(conn).Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(oteltest.Traces(uint64(i), 2, nil)))
		require.NoError(t, err)
	}
	require.Equal(t, 40, sink.SpanCount())
	for range 3 {
		require.Equal(t, codes.Unavailable, status.Code(<-logsDone), "logs are asked to retry later")
	}
}

// TestEndToEndLoki: OTLP logs reach a real Loki through loki.write and read back with the
// mapped labels and structured metadata.
func TestEndToEndLoki(t *testing.T) {
	lk := lokitest.Start(t)
	host := &logsHost{Host: pipelinetest.NewHost()}
	wa := write.DefaultArguments()
	ep := write.DefaultEndpoint()
	u, err := url.Parse(lk.PushURL())
	require.NoError(t, err)
	ep.URL = config.URL{URL: u}
	ep.BatchWait = model.Duration(50 * time.Millisecond)
	wa.Endpoints = []write.EndpointConfig{ep}
	w, err := write.New(pipelinetest.Options(t, "loki.write/default", host.Host), wa)
	require.NoError(t, err)
	host.logs = w
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	opts := pipelinetest.Options(t, "otelcol.exporter.loki/default", host.Host)
	opts.Host = host
	a := DefaultArguments()
	a.ForwardTo = []string{"loki.write/default"}
	c, err := New(opts, a)
	require.NoError(t, err)

	ld := record()
	now := time.Now()
	for i := 0; i < ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().Len(); i++ {
		lr := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(i)
		lr.SetTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Duration(i) * time.Millisecond)))
	}
	require.NoError(t, c.Logs().ConsumeLogs(context.Background(), ld), "acknowledged by Loki")

	var streams []lokitest.Stream
	require.Eventually(t, func() bool {
		streams, err = lk.QueryRange(context.Background(), `{service_name="checkout", k8s_pod_name="checkout-1"}`, now.Add(-time.Minute), now.Add(time.Minute), 100)
		return err == nil && len(streams) == 1 && len(streams[0].Entries) == 2
	}, time.Minute, 200*time.Millisecond, "%v %v", streams, err)
	e := streams[0].Entries[0]
	require.Equal(t, "payment failed", e.Line)
	require.Equal(t, "ERROR", e.StructuredMetadata["severity_text"])
	require.Equal(t, oteltest.TraceID(7).String(), e.StructuredMetadata["trace_id"])
}

// logsHost is a fake host whose Logs is a real loki.write.
type logsHost struct {
	*pipelinetest.Host
	logs pipeline.LogsReceiver
}

func (h *logsHost) Logs([]string) pipeline.LogsReceiver { return h.logs }

func TestLifecycle(t *testing.T) {
	a := DefaultArguments()
	a.ForwardTo = []string{"loki.write/default"}
	b := *a
	b.LabelAttributes = []string{"service.name"}
	pipelinetest.Lifecycle(t, Registration, a, &b)
}
