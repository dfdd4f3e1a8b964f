package otlp

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
	"github.com/sondehq/sonde/internal/otelcol"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

func tracesProto(t testing.TB, spans int) []byte {
	t.Helper()
	b, err := ptraceotlp.NewExportRequestFromTraces(oteltest.Traces(1, spans, nil)).MarshalProto()
	require.NoError(t, err)
	return b
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, err := w.Write(b)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return buf.Bytes()
}

// jsonUpperHex is OTLP/JSON with upper-case hex ids and fields OTLP does not define.
const jsonUpperHex = `{
  "resourceSpans": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-client"}}]},
    "unknownResourceField": 1,
    "scopeSpans": [{
      "scope": {"name": "x"},
      "spans": [{
        "traceId": "5B8EFFF798038103D269B633813FC60C",
        "spanId": "EEE19B7EC3C1B174",
        "name": "upper",
        "kind": 2,
        "startTimeUnixNano": "1544712660000000000",
        "endTimeUnixNano": "1544712661000000000",
        "somethingNew": {"nested": true}
      }]
    }]
  }],
  "extra": "ignored"
}`

func TestHTTPEdgeCases(t *testing.T) {
	s := start(t, func(a *Arguments) { a.HTTP.MaxRequestBodySize = 64 << 10 })
	big := tracesProto(t, 2000) // well over 64 KiB
	require.Greater(t, len(big), 64<<10)
	bomb := gz(t, make([]byte, 1<<20)) // 1 KiB compressed, 1 MiB decompressed

	cases := []struct {
		name        string
		method      string
		path        string
		contentType string
		encoding    string
		body        []byte
		want        int
		wantSpans   int
	}{
		{name: "protobuf", method: "POST", path: "/v1/traces", contentType: "application/x-protobuf", body: tracesProto(t, 3), want: 200, wantSpans: 3},
		{name: "protobuf gzip", method: "POST", path: "/v1/traces", contentType: "application/x-protobuf", encoding: "gzip", body: gz(t, tracesProto(t, 2)), want: 200, wantSpans: 2},
		{name: "json upper-case hex and unknown fields", method: "POST", path: "/v1/traces", contentType: "application/json", body: []byte(jsonUpperHex), want: 200, wantSpans: 1},
		{name: "json gzip", method: "POST", path: "/v1/traces", contentType: "application/json", encoding: "gzip", body: gz(t, []byte(jsonUpperHex)), want: 200, wantSpans: 1},
		{name: "missing content type", method: "POST", path: "/v1/traces", body: tracesProto(t, 1), want: 415},
		{name: "unknown content type", method: "POST", path: "/v1/traces", contentType: "text/plain", body: tracesProto(t, 1), want: 415},
		{name: "GET", method: "GET", path: "/v1/traces", want: 405},
		{name: "bad protobuf", method: "POST", path: "/v1/traces", contentType: "application/x-protobuf", body: []byte("\xff\xff\xff not protobuf"), want: 400},
		{name: "bad json", method: "POST", path: "/v1/traces", contentType: "application/json", body: []byte(`{"resourceSpans": [`), want: 400},
		{name: "json not utf-8", method: "POST", path: "/v1/traces", contentType: "application/json", body: []byte("\x84"), want: 400},
		{name: "json oversize", method: "POST", path: "/v1/traces", contentType: "application/json", body: bytes.Repeat([]byte(" "), 70<<10), want: 413},
		{name: "bad gzip", method: "POST", path: "/v1/traces", contentType: "application/x-protobuf", encoding: "gzip", body: []byte("not gzip"), want: 400},
		{name: "oversize", method: "POST", path: "/v1/traces", contentType: "application/x-protobuf", body: big, want: 413},
		{name: "oversize after decompression", method: "POST", path: "/v1/traces", contentType: "application/x-protobuf", encoding: "gzip", body: bomb, want: 413},
		{name: "unknown path", method: "POST", path: "/v1/spans", contentType: "application/x-protobuf", body: tracesProto(t, 1), want: 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := s.sink.SpanCount()
			req, err := http.NewRequest(tc.method, s.url(tc.path), bytes.NewReader(tc.body))
			require.NoError(t, err)
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			if tc.encoding != "" {
				req.Header.Set("Content-Encoding", tc.encoding)
			}
			resp, err := client.Do(req)
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, tc.want, resp.StatusCode, "body: %s", body)
			require.Equal(t, tc.wantSpans, s.sink.SpanCount()-before)
		})
	}

	t.Run("upper-case ids decoded", func(t *testing.T) {
		var found bool
		for _, td := range s.sink.AllTraces() {
			sp := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
			if sp.Name() == "upper" {
				found = true
				require.Equal(t, "5b8efff798038103d269b633813fc60c", sp.TraceID().String())
				require.Equal(t, "eee19b7ec3c1b174", sp.SpanID().String())
			}
		}
		require.True(t, found)
	})
}

// retryAfter is the error otelcol.processor.memory_limiter returns.
func retryAfter(d time.Duration) error {
	st, err := status.New(codes.ResourceExhausted, "memory limit reached").
		WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)})
	if err != nil {
		panic(err)
	}
	return st.Err()
}

func TestRefusals(t *testing.T) {
	s := start(t, nil)
	conn, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	gc := ptraceotlp.NewGRPCClient(conn)

	cases := []struct {
		name       string
		err        error
		wantHTTP   int
		retryAfter string
		wantCode   codes.Code
		wantDelay  time.Duration
	}{
		{name: "over the memory limit", err: retryAfter(3 * time.Second), wantHTTP: 429, retryAfter: "3", wantCode: codes.ResourceExhausted, wantDelay: 3 * time.Second},
		{name: "output not running", err: errors.New("component x is not running"), wantHTTP: 503, wantCode: codes.Unavailable},
		{name: "permanent", err: consumererror.NewPermanent(errors.New("bad data")), wantHTTP: 500, wantCode: codes.Internal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.sink.Fail(tc.err)
			defer s.sink.Fail(nil)

			resp, err := client.Post(s.url("/v1/traces"), "application/x-protobuf", bytes.NewReader(tracesProto(t, 1)))
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, tc.wantHTTP, resp.StatusCode)
			require.Equal(t, tc.retryAfter, resp.Header.Get("Retry-After"))

			_, err = gc.Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(oteltest.Traces(1, 1, nil)))
			st := status.Convert(err)
			require.Equal(t, tc.wantCode, st.Code(), "%v", err)
			if tc.wantDelay > 0 {
				var delay time.Duration
				for _, d := range st.Details() {
					if ri, ok := d.(*errdetails.RetryInfo); ok {
						delay = ri.GetRetryDelay().AsDuration()
					}
				}
				require.Equal(t, tc.wantDelay, delay)
			}
		})
	}
}

func TestGRPC(t *testing.T) {
	s := start(t, func(a *Arguments) { a.GRPC.MaxRecvMsgSize = 1 << 20 })
	conn, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	gc := ptraceotlp.NewGRPCClient(conn)

	_, err = gc.Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(oteltest.Traces(7, 5, nil)))
	require.NoError(t, err)
	require.Equal(t, 5, s.sink.SpanCount())

	_, err = gc.Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(oteltest.Traces(8, 40000, nil)))
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "over max_recv_msg_size: %v", err)
	require.Equal(t, 5, s.sink.SpanCount())
}

func TestBearerToken(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600))
	s := start(t, func(a *Arguments) {
		a.GRPC.Auth = &Auth{BearerTokenFile: tokenFile}
		a.HTTP.Auth = &Auth{BearerTokenFile: tokenFile}
	})
	post := func(token string) int {
		req, _ := http.NewRequest("POST", s.url("/v1/traces"), bytes.NewReader(tracesProto(t, 1)))
		req.Header.Set("Content-Type", "application/x-protobuf")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, 401, post(""))
	require.Equal(t, 401, post("wrong"))
	require.Equal(t, 200, post("s3cret"))

	conn, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	gc := ptraceotlp.NewGRPCClient(conn)
	req := ptraceotlp.NewExportRequestFromTraces(oteltest.Traces(1, 1, nil))
	_, err = gc.Export(context.Background(), req)
	require.Equal(t, codes.Unauthenticated, status.Code(err))
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer s3cret")
	_, err = gc.Export(ctx, req)
	require.NoError(t, err)

	// A rotated token applies without a restart.
	require.NoError(t, os.WriteFile(tokenFile, []byte("rotated-and-longer"), 0o600))
	require.Equal(t, 200, post("rotated-and-longer"))
	require.Equal(t, 401, post("s3cret"))
}

func TestCORS(t *testing.T) {
	s := start(t, func(a *Arguments) { a.HTTP.CORS = &CORS{AllowedOrigins: []string{"https://*.example.com"}} })
	req, _ := http.NewRequest("OPTIONS", s.url("/v1/traces"), nil)
	req.Header.Set("Origin", "https://app.example.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, "https://app.example.com", resp.Header.Get("Access-Control-Allow-Origin"))

	req.Header.Set("Origin", "https://evil.test")
	resp, err = client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
}

func TestMetricsAndLogs(t *testing.T) {
	s := start(t, nil)
	conn, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	ctx := context.Background()
	_, err = pmetricotlpClient(conn).Export(ctx, pmetricotlpRequest())
	require.NoError(t, err)
	_, err = plogotlpClient(conn).Export(ctx, plogotlpRequest())
	require.NoError(t, err)
	require.Len(t, s.sink.AllMetrics(), 1)
	require.Len(t, s.sink.AllLogs(), 1)
}

func TestValidate(t *testing.T) {
	g, h := DefaultGRPC(), DefaultHTTP()
	cases := []struct {
		name string
		args Arguments
		want string
	}{
		{name: "nothing", args: Arguments{}, want: "grpc: at least one of grpc and http"},
		{name: "no output", args: Arguments{GRPC: &g}, want: "output: at least one"},
		{name: "bad endpoint", args: Arguments{GRPC: &GRPCArguments{Endpoint: "4317", MaxRecvMsgSize: 1}, Output: outTraces()}, want: "grpc.endpoint"},
		{name: "same endpoints", args: Arguments{GRPC: &GRPCArguments{Endpoint: "127.0.0.1:4317", MaxRecvMsgSize: 1}, HTTP: &HTTPArguments{Endpoint: "127.0.0.1:4317", MaxRequestBodySize: 1, ReadHeaderTimeout: 1}, Output: outTraces()}, want: "http.endpoint: same as grpc.endpoint"},
		{name: "auth without file", args: Arguments{HTTP: &HTTPArguments{Endpoint: h.Endpoint, MaxRequestBodySize: 1, ReadHeaderTimeout: 1, Auth: &Auth{}}, Output: outTraces()}, want: "http.auth.bearer_token_file: required"},
		{name: "cors without origins", args: Arguments{HTTP: &HTTPArguments{Endpoint: h.Endpoint, MaxRequestBodySize: 1, ReadHeaderTimeout: 1, CORS: &CORS{}}, Output: outTraces()}, want: "http.cors.allowed_origins"},
		{name: "tls without key", args: Arguments{GRPC: &GRPCArguments{Endpoint: g.Endpoint, MaxRecvMsgSize: 1, TLS: &otelcol.TLSServer{CertFile: "c"}}, Output: outTraces()}, want: "grpc.tls.key_file: required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.args.Validate()
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

func outTraces() (o collectorOutput) {
	o.Traces = []string{"x"}
	return o
}

func TestMissingTokenFileFailsAtBuild(t *testing.T) {
	h := DefaultHTTP()
	h.Auth = &Auth{BearerTokenFile: filepath.Join(t.TempDir(), "missing")}
	a := &Arguments{HTTP: &h, Output: outTraces()}
	_, err := New(pipelinetest.Options(t, "otelcol.receiver.otlp/x", pipelinetest.NewHost()), a)
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "http.auth.bearer_token_file"), err.Error())
}

func TestLifecycle(t *testing.T) {
	g, h := DefaultGRPC(), DefaultHTTP()
	g.Endpoint, h.Endpoint = "127.0.0.1:0", "127.0.0.1:0"
	args := &Arguments{GRPC: &g, HTTP: &h, Output: outTraces()}
	h2 := h
	updated := &Arguments{HTTP: &h2, Output: outTraces()}
	pipelinetest.Lifecycle(t, Registration, args, updated)
}

var _ = ptrace.NewTraces
