package otelcol

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
)

func TestSlogCore(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ts := TelemetrySettings(logger, nil)
	ts.Logger.Debug("hidden")
	ts.Logger.With(zap.String("exporter", "otlp")).Warn("Exporting failed", zap.Int("dropped_items", 3))
	out := buf.String()
	require.NotContains(t, out, "hidden")
	require.Contains(t, out, "level=WARN")
	require.Contains(t, out, `msg="Exporting failed"`)
	require.Contains(t, out, "exporter=otlp")
	require.Contains(t, out, "dropped_items=3")
}

func TestMeterProvider(t *testing.T) {
	var added []int64
	var gauge int64
	mp := NewMeterProvider(Instruments{
		Counters: map[string]func(attribute.Set, int64){
			"otelcol_exporter_sent_spans": func(attrs attribute.Set, n int64) {
				v, _ := attrs.Value("exporter")
				require.Equal(t, "otlp/x", v.AsString())
				added = append(added, n)
			},
		},
		Gauges: map[string]func(attribute.Set, int64){
			"otelcol_exporter_queue_size": func(_ attribute.Set, v int64) { gauge = v },
		},
	})
	m := mp.Meter("x")
	c, err := m.Int64Counter("otelcol_exporter_sent_spans")
	require.NoError(t, err)
	c.Add(context.Background(), 5, metric.WithAttributes(attribute.String("exporter", "otlp/x")))
	other, _ := m.Int64Counter("something_else")
	other.Add(context.Background(), 1)
	require.Equal(t, []int64{5}, added)

	g, err := m.Int64ObservableGauge("otelcol_exporter_queue_size")
	require.NoError(t, err)
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(g, 42)
		return nil
	}, g)
	require.NoError(t, err)
	mp.Observe()
	require.Equal(t, int64(42), gauge)
	require.NoError(t, reg.Unregister())
	gauge = 0
	mp.Observe()
	require.Zero(t, gauge, "unregistered callbacks do not run")

	// Callbacks given as options (the collector's generated builders use both forms).
	_, err = m.Int64ObservableGauge("otelcol_exporter_queue_size", metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
		o.Observe(7)
		return nil
	}))
	require.NoError(t, err)
	mp.Observe()
	require.Equal(t, int64(7), gauge)
}

func TestBearerToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(path, []byte(" abc \n"), 0o600))
	b, err := NewBearerToken(path)
	require.NoError(t, err)
	ctx := context.Background()
	for _, tc := range []struct {
		headers map[string][]string
		ok      bool
	}{
		{map[string][]string{"Authorization": {"Bearer abc"}}, true},
		{map[string][]string{"authorization": {"bearer abc"}}, true},
		{map[string][]string{"Authorization": {"Bearer abd"}}, false},
		{map[string][]string{"Authorization": {"Basic abc"}}, false},
		{nil, false},
	} {
		_, err := b.Authenticate(ctx, tc.headers)
		require.Equal(t, tc.ok, err == nil, "%v", tc.headers)
	}
	_, err = NewBearerToken(filepath.Join(t.TempDir(), "missing"))
	require.Error(t, err)
	empty := filepath.Join(t.TempDir(), "empty")
	require.NoError(t, os.WriteFile(empty, []byte("\n"), 0o600))
	_, err = NewBearerToken(empty)
	require.ErrorContains(t, err, "empty")
}

func TestServerMiddleware(t *testing.T) {
	var codes []string
	s := NewServer(func(tr, code string) { codes = append(codes, tr+":"+code) })
	wrap, err := s.GetHTTPHandler(context.Background())
	require.NoError(t, err)
	h, err := wrap(context.Background(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := r.Body.Read(make([]byte, 100)); err != nil && !strings.Contains(err.Error(), "EOF") {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusBadRequest)
	}))
	require.NoError(t, err)
	limited := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 10)
		h.ServeHTTP(w, r)
	})
	rec := httptest.NewRecorder()
	limited.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/traces", strings.NewReader(strings.Repeat("x", 50))))
	require.Equal(t, http.StatusRequestEntityTooLarge, rec.Code, "a body over the limit is 413")
	rec = httptest.NewRecorder()
	limited.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/traces", strings.NewReader("short")))
	require.Equal(t, http.StatusBadRequest, rec.Code, "other bad requests stay 400")
	require.Equal(t, []string{"http:413", "http:400"}, codes)
}

func TestFileStorage(t *testing.T) {
	dir := t.TempDir()
	fs := NewFileStorage(dir)
	ctx := context.Background()
	cl, err := fs.GetClient(ctx, component.KindExporter, component.MustNewIDWithName("otlp", "tempo"), "traces")
	require.NoError(t, err)
	v, err := cl.Get(ctx, "missing")
	require.NoError(t, err)
	require.Nil(t, v)
	require.NoError(t, cl.Batch(ctx, storage.SetOperation("qmv0", []byte("meta")), storage.SetOperation("0", []byte("item"))))
	get := storage.GetOperation("0")
	require.NoError(t, cl.Batch(ctx, storage.SetOperation("qmv0", []byte("meta2")), get))
	require.Equal(t, []byte("item"), get.Value)
	require.NoError(t, cl.Delete(ctx, "0"))
	require.NoError(t, cl.Delete(ctx, "0"), "deleting twice is fine")
	require.NoError(t, cl.Close(ctx))

	// A new storage on the same directory sees the same data (a restart).
	cl2, err := NewFileStorage(dir).GetClient(ctx, component.KindExporter, component.MustNewIDWithName("otlp", "tempo"), "traces")
	require.NoError(t, err)
	v, err = cl2.Get(ctx, "qmv0")
	require.NoError(t, err)
	require.Equal(t, []byte("meta2"), v)
	entries, err := os.ReadDir(filepath.Join(dir, "exporter_otlp%2Ftempo_traces"))
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary files left behind")
	require.Equal(t, "%2Ekey%2F..", escapeKey(".key/.."))
}
