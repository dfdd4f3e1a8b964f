package kubetest

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy is a plain-HTTP reverse proxy in front of the API server that counts the requests
// and response bytes going through it (watch streams included, as they flow), so that a
// test or benchmark can measure the API traffic one client causes.
type Proxy struct {
	// URL is the proxy's address (http://127.0.0.1:PORT); clients use it as api_server and
	// send their own bearer token.
	URL string

	bytes atomic.Int64
	mu    sync.Mutex
	reqs  []ProxyRequest
}

// ProxyRequest is one request seen by the proxy.
type ProxyRequest struct {
	Method string
	URI    string // path and query
}

// NewProxy starts a proxy to s, stopped when the test ends.
func (s *Server) NewProxy(t testing.TB) *Proxy {
	t.Helper()
	target, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	rp.FlushInterval = -1 // watch events pass at once
	p := &Proxy{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.reqs = append(p.reqs, ProxyRequest{Method: r.Method, URI: r.URL.RequestURI()})
		p.mu.Unlock()
		rp.ServeHTTP(&countingWriter{ResponseWriter: w, n: &p.bytes}, r)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// Bytes returns the response bytes sent to clients so far.
func (p *Proxy) Bytes() int64 { return p.bytes.Load() }

// Requests returns the requests seen so far.
func (p *Proxy) Requests() []ProxyRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]ProxyRequest(nil), p.reqs...)
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w *countingWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.n.Add(int64(n))
	return n, err
}

func (w *countingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
