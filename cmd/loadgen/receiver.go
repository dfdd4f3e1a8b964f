package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/golang/snappy"
)

// This file holds what the two receivers (sink: remote write, lokiSink: Loki push) share:
// request bodies, order and lag bookkeeping, the /stats and /reset endpoints and serving.

// bodies reads request bodies into pooled buffers and decodes snappy blocks.
type bodies struct {
	maxBody int64
	pool    sync.Pool // *[]byte
}

func (b *bodies) get() *[]byte {
	if p, ok := b.pool.Get().(*[]byte); ok {
		return p
	}
	p := make([]byte, 0, 1<<20)
	return &p
}

// put returns buffers taken by read or snappyBlock.
func (b *bodies) put(bufs ...*[]byte) {
	for _, p := range bufs {
		b.pool.Put(p)
	}
}

// httpError is a request refused with an HTTP status.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func refuse(code int, format string, args ...any) *httpError {
	return &httpError{code: code, msg: fmt.Sprintf(format, args...)}
}

// read reads the body of r, up to maxBody bytes, into a pooled buffer.
func (b *bodies) read(r *http.Request) (*[]byte, *httpError) {
	raw := b.get()
	body := bytes.NewBuffer((*raw)[:0])
	_, err := body.ReadFrom(io.LimitReader(r.Body, b.maxBody+1))
	*raw = body.Bytes()
	if err != nil {
		return raw, refuse(http.StatusBadRequest, "reading body: %v", err)
	}
	if int64(len(*raw)) > b.maxBody {
		return raw, refuse(http.StatusRequestEntityTooLarge, "body too large")
	}
	return raw, nil
}

// snappyBlock reads the body of r and decodes it as one snappy block (the framing of both
// remote write and Loki push). raw holds the body as sent, dec the decoded block; both
// are returned to the pool by the caller, also on error.
func (b *bodies) snappyBlock(r *http.Request) (raw, dec *[]byte, block []byte, herr *httpError) {
	raw, herr = b.read(r)
	dec = b.get()
	if herr != nil {
		return raw, dec, nil, herr
	}
	n, err := snappy.DecodedLen(*raw)
	if err != nil || int64(n) > b.maxBody {
		return raw, dec, nil, refuse(http.StatusBadRequest, "not a valid snappy block of acceptable size")
	}
	if cap(*dec) < n {
		*dec = make([]byte, n)
	}
	block, err = snappy.Decode((*dec)[:cap(*dec)], *raw)
	if err != nil {
		return raw, dec, nil, refuse(http.StatusBadRequest, "snappy: %v", err)
	}
	return raw, dec, block, nil
}

// newest remembers the newest timestamp of each series (or stream), by hash, to count what
// arrives out of order: resends and duplicates.
type newest struct {
	seed maphash.Seed
	last map[uint64]int64
}

func newNewest() newest {
	return newest{seed: maphash.MakeSeed(), last: make(map[uint64]int64)}
}

// observe records ts for key and reports whether it is not newer than what key had.
func (n *newest) observe(key uint64, ts int64) (outOfOrder bool) {
	last, seen := n.last[key]
	if !seen || ts > last {
		n.last[key] = ts
	}
	return seen && ts <= last
}

func (n *newest) len() int { return len(n.last) }
func (n *newest) reset()   { clear(n.last) }

// lag accumulates arrival time minus item timestamp, in seconds.
type lag struct {
	sum, max float64
}

func (l *lag) add(seconds float64) {
	l.sum += seconds
	l.max = math.Max(l.max, seconds)
}

// mean is the mean over n items (0 when there are none).
func (l *lag) mean(n uint64) float64 {
	if n == 0 {
		return 0
	}
	return l.sum / float64(n)
}

// statsMux serves write on each of writePaths (POST), snapshot as JSON on GET /stats, and
// reset on POST /reset.
func statsMux(write http.HandlerFunc, writePaths []string, snapshot func() any, reset func()) http.Handler {
	mux := http.NewServeMux()
	for _, p := range writePaths {
		mux.HandleFunc("POST "+p, write)
	}
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ") // one field per line, for the benchmark scripts' sed
		_ = enc.Encode(snapshot())
	})
	mux.HandleFunc("POST /reset", func(w http.ResponseWriter, _ *http.Request) {
		reset()
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

// serveHTTP serves h on listen until ctx ends; stopped is called after the server has shut
// down (to log the final counts).
func serveHTTP(ctx context.Context, listen string, h http.Handler, logger *slog.Logger, msg string, stopped func()) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info(msg, "addr", ln.Addr().String())

	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	<-errc
	stopped()
	if errors.Is(err, context.DeadlineExceeded) {
		return nil // slow clients at exit are not the sink's failure
	}
	return err
}
