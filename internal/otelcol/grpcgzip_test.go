package otelcol

import (
	"bytes"
	stdgzip "compress/gzip"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/grpc/encoding"

	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
)

// payload is an OTLP request body like the ones the sidecar forwards: 2 000 spans.
func payload(tb testing.TB) []byte {
	tb.Helper()
	td := ptrace.NewTraces()
	for i := uint64(0); i < 20; i++ {
		oteltest.Traces(i, 100, map[string]string{"k8s.pod.name": "checkout-7d4b9c6f58-x2x9q"}).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	}
	b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	require.NoError(tb, err)
	return b
}

func compress(tb testing.TB, c encoding.Compressor, b []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w, err := c.Compress(&buf)
	require.NoError(tb, err)
	_, err = w.Write(b)
	require.NoError(tb, err)
	require.NoError(tb, w.Close())
	return buf.Bytes()
}

func decompress(tb testing.TB, c encoding.Compressor, b []byte) []byte {
	tb.Helper()
	r, err := c.Decompress(bytes.NewReader(b))
	require.NoError(tb, err)
	out, err := io.ReadAll(r)
	require.NoError(tb, err)
	require.NoError(tb, r.(io.Closer).Close())
	return out
}

func TestGzipIsRegisteredAndInteroperates(t *testing.T) {
	c := encoding.GetCompressor("gzip")
	require.IsType(t, &gzipCompressor{}, c, "sonde's gzip replaces grpc's")
	in := payload(t)

	// What sonde sends, the standard library (any gzip peer) reads, and back; pooled
	// writers and readers are reused across messages.
	for i := 0; i < 3; i++ {
		z := compress(t, c, in)
		zr, err := stdgzip.NewReader(bytes.NewReader(z))
		require.NoError(t, err)
		got, err := io.ReadAll(zr)
		require.NoError(t, err)
		require.Equal(t, in, got)

		var std bytes.Buffer
		zw := stdgzip.NewWriter(&std)
		_, _ = zw.Write(in)
		require.NoError(t, zw.Close())
		require.Equal(t, in, decompress(t, c, std.Bytes()))
	}

	_, err := c.Decompress(bytes.NewReader([]byte("not gzip")))
	require.Error(t, err, "a corrupt body is an error, not a crash")
}

// BenchmarkGzip compares the standard library's gzip, which gRPC registers, with the one
// sonde registers, on an OTLP request of 2 000 spans.
func BenchmarkGzip(b *testing.B) {
	in := payload(b)
	std := stdCompressor{}
	for _, c := range []struct {
		name string
		c    encoding.Compressor
	}{{"stdlib", std}, {"klauspost", encoding.GetCompressor("gzip")}} {
		b.Run("compress/"+c.name, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			var n int
			for i := 0; i < b.N; i++ {
				n = len(compress(b, c.c, in))
			}
			b.ReportMetric(float64(len(in))/float64(n), "ratio")
		})
		z := compress(b, c.c, in)
		b.Run("decompress/"+c.name, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			for i := 0; i < b.N; i++ {
				decompress(b, c.c, z)
			}
		})
	}
}

// stdCompressor is compress/gzip at the default level, without pooling beyond the
// standard library's own (as a reference only).
type stdCompressor struct{}

func (stdCompressor) Name() string { return "gzip-std" }
func (stdCompressor) Compress(w io.Writer) (io.WriteCloser, error) {
	return stdgzip.NewWriterLevel(w, stdgzip.DefaultCompression)
}
func (stdCompressor) Decompress(r io.Reader) (io.Reader, error) { return stdgzip.NewReader(r) }
