// Package lokitest holds test helpers for everything that pushes to Loki: a fake push
// endpoint that records what it receives and answers as scripted (errors, Retry-After,
// hangs), and helpers that start a real Loki on 127.0.0.1 and read back through its query
// API.
package lokitest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/snappy"
)

// Request is one push request the Receiver got.
type Request struct {
	Time    time.Time
	Header  http.Header
	Streams []push.Stream
	Status  int // what the Receiver answered
	Err     error
}

// Entries returns the number of entries in the request.
func (r Request) Entries() int {
	n := 0
	for _, s := range r.Streams {
		n += len(s.Entries)
	}
	return n
}

// Response is what the Receiver answers to one request.
type Response struct {
	Status     int    // 0: 204
	Body       string // sent with error statuses
	RetryAfter string // Retry-After header, when set
	// Hang holds the request until the client gives up or the Receiver is closed.
	Hang bool
}

// Receiver is a fake Loki push endpoint. Each request is answered by the next scripted
// Response (see Script), or by the default one (see SetDefault; 204 unless changed).
// Requests are decoded (snappy, then protobuf) and recorded; a request that does not
// decode is answered 400 and recorded with Err set.
type Receiver struct {
	// URL is the push URL (…/loki/api/v1/push).
	URL string

	srv     *httptest.Server
	release chan struct{}

	mu       sync.Mutex
	requests []Request
	script   []Response
	def      Response
	changed  chan struct{}
}

// NewReceiver starts a Receiver on 127.0.0.1; it is closed when the test ends.
func NewReceiver(t testing.TB) *Receiver {
	r := &Receiver{release: make(chan struct{}), changed: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	r.URL = r.srv.URL + "/loki/api/v1/push"
	t.Cleanup(r.Close)
	return r
}

// Close releases hanging requests and stops the server.
func (r *Receiver) Close() {
	r.mu.Lock()
	select {
	case <-r.release:
	default:
		close(r.release)
	}
	r.mu.Unlock()
	r.srv.CloseClientConnections()
	r.srv.Close()
}

// Script queues responses for the next requests, in order.
func (r *Receiver) Script(resps ...Response) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.script = append(r.script, resps...)
}

// SetDefault sets the response given once the script is used up.
func (r *Receiver) SetDefault(resp Response) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.def = resp
}

// Requests returns every request received so far.
func (r *Receiver) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.requests...)
}

// Changed returns a channel closed at the next request.
func (r *Receiver) Changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

// Received is one received entry with its stream.
type Received struct {
	Stream string // the stream's label string
	push.Entry
}

// Accepted returns the entries of the requests answered 2xx, in the order received.
func (r *Receiver) Accepted() []Received {
	var out []Received
	for _, req := range r.Requests() {
		if req.Status/100 != 2 {
			continue
		}
		for _, s := range req.Streams {
			for _, e := range s.Entries {
				out = append(out, Received{Stream: s.Labels, Entry: e})
			}
		}
	}
	return out
}

// ByStream groups the accepted entries' lines by stream, in the order received.
func (r *Receiver) ByStream() map[string][]string {
	out := map[string][]string{}
	for _, e := range r.Accepted() {
		out[e.Stream] = append(out[e.Stream], e.Line)
	}
	return out
}

// Streams returns the label strings of the streams received, sorted.
func (r *Receiver) Streams() []string {
	var out []string
	for s := range r.ByStream() {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	rec := Request{Time: time.Now(), Header: req.Header.Clone()}
	streams, err := decode(req)
	rec.Streams, rec.Err = streams, err

	r.mu.Lock()
	resp := r.def
	if len(r.script) > 0 {
		resp = r.script[0]
		r.script = r.script[1:]
	}
	if err != nil {
		resp = Response{Status: http.StatusBadRequest, Body: err.Error()}
	}
	if resp.Status == 0 {
		resp.Status = http.StatusNoContent
	}
	rec.Status = resp.Status
	if resp.Hang {
		rec.Status = 0
	}
	r.requests = append(r.requests, rec)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()

	if resp.Hang {
		select {
		case <-req.Context().Done():
		case <-r.release:
		}
		return
	}
	if resp.RetryAfter != "" {
		w.Header().Set("Retry-After", resp.RetryAfter)
	}
	w.WriteHeader(resp.Status)
	if resp.Body != "" {
		_, _ = io.WriteString(w, resp.Body)
	}
}

// decode reads a push request as Loki does: snappy-compressed protobuf.
func decode(req *http.Request) ([]push.Stream, error) {
	if ct := req.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		return nil, fmt.Errorf("unexpected Content-Type %q", ct)
	}
	if ce := req.Header.Get("Content-Encoding"); ce != "snappy" {
		return nil, fmt.Errorf("unexpected Content-Encoding %q", ce)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		return nil, fmt.Errorf("snappy: %w", err)
	}
	var pr push.PushRequest
	if err := pr.Unmarshal(raw); err != nil {
		return nil, fmt.Errorf("protobuf: %w", err)
	}
	return pr.Streams, nil
}
