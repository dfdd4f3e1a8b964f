package otelcol

// gRPC's "gzip" compressor (google.golang.org/grpc/encoding/gzip, which configgrpc
// registers) is compress/gzip from the standard library. Forwarding OTLP with gzip, as the
// sidecar does, half of the CPU went there (docs/benchmarks.md, the OTLP profile).
// klauspost/compress/gzip writes the same format (RFC 1952) at the same level in less time
// and reads it faster; the collector's HTTP side (confighttp) already uses it. Registering
// it under the same name replaces the standard one for every gRPC client and server in the
// process: senders and receivers see the same bytes on the wire.

import (
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/gzip" // initialised first, so this one replaces it
)

func init() { encoding.RegisterCompressor(&gzipCompressor{}) }

// gzipCompressor pools its writers and readers: a gzip writer holds a few hundred KB of
// tables that should not be allocated per message.
type gzipCompressor struct {
	writers, readers sync.Pool
}

func (c *gzipCompressor) Name() string { return "gzip" }

func (c *gzipCompressor) Compress(w io.Writer) (io.WriteCloser, error) {
	if z, ok := c.writers.Get().(*gzipWriter); ok {
		z.Reset(w)
		return z, nil
	}
	zw, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	return &gzipWriter{Writer: zw, pool: &c.writers}, nil
}

// gzipWriter goes back to the pool when gRPC closes it (once per message).
type gzipWriter struct {
	*gzip.Writer
	pool *sync.Pool
}

func (z *gzipWriter) Close() error {
	defer z.pool.Put(z)
	return z.Writer.Close()
}

func (c *gzipCompressor) Decompress(r io.Reader) (io.Reader, error) {
	if z, ok := c.readers.Get().(*gzipReader); ok {
		if err := z.Reset(r); err != nil {
			c.readers.Put(z)
			return nil, err
		}
		return z, nil
	}
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, err
	}
	return &gzipReader{Reader: zr, pool: &c.readers}, nil
}

// gzipReader goes back to the pool when gRPC closes it: gRPC calls Close exactly once on a
// decompressed reader that has one.
type gzipReader struct {
	*gzip.Reader
	pool *sync.Pool
}

func (z *gzipReader) Close() error {
	defer z.pool.Put(z)
	return z.Reader.Close()
}
