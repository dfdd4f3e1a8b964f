package otlp

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
)

// FuzzHTTP posts arbitrary bodies to the OTLP/HTTP handlers, as protobuf or JSON,
// compressed or not: every answer is a 2xx or a 4xx (never a 5xx, never a crash), and the
// server keeps serving.
//
//	go test -run '^$' -fuzz FuzzHTTP ./components/otelcol/receiver/otlp/
func FuzzHTTP(f *testing.F) {
	s := start(f, func(a *Arguments) { a.GRPC = nil; a.HTTP.MaxRequestBodySize = 1 << 20 })
	traces := tracesProto(f, 3)
	metrics, _ := pmetricotlp.NewExportRequestFromMetrics(oteltest.Metrics(nil)).MarshalProto()
	logs, _ := plogotlp.NewExportRequestFromLogs(oteltest.Logs(2, nil)).MarshalProto()
	f.Add(uint8(0), uint8(0), false, traces)
	f.Add(uint8(1), uint8(0), true, metrics)
	f.Add(uint8(2), uint8(0), false, logs)
	f.Add(uint8(0), uint8(1), false, []byte(jsonUpperHex))
	f.Add(uint8(0), uint8(1), false, []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}`))
	f.Add(uint8(0), uint8(2), false, []byte("hello"))
	f.Add(uint8(1), uint8(1), true, []byte(`{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"x","sum":{"dataPoints":[{"asInt":"1"}]}}]}]}]}`))

	paths := []string{"/v1/traces", "/v1/metrics", "/v1/logs"}
	types := []string{"application/x-protobuf", "application/json", "text/plain", ""}
	f.Fuzz(func(t *testing.T, path, ctype uint8, gzipped bool, body []byte) {
		data := body
		if gzipped {
			var buf bytes.Buffer
			w := gzip.NewWriter(&buf)
			_, _ = w.Write(body)
			_ = w.Close()
			data = buf.Bytes()
		}
		req, err := http.NewRequest(http.MethodPost, s.url(paths[int(path)%len(paths)]), bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if ct := types[int(ctype)%len(types)]; ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if gzipped {
			req.Header.Set("Content-Encoding", "gzip")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("the server stopped answering: %v", err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		default:
			t.Fatalf("answer %d: %s", resp.StatusCode, answer)
		}
	})
}
