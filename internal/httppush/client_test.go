package httppush

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// received is what the test server saw of one request.
type received struct {
	method string
	header http.Header
	body   string
}

// newServer starts a server that records each request and answers with answer.
func newServer(t *testing.T, answer http.HandlerFunc) (*httptest.Server, <-chan received) {
	t.Helper()
	got := make(chan received, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- received{method: r.Method, header: r.Header.Clone(), body: string(b)}
		answer(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	c, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// The headers on the wire are the ones each exporter sent before they shared this client.
func TestPostHeaders(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want map[string]string // headers that must be sent with exactly this value
		none []string          // headers that must not be sent
	}{
		{
			name: "loki.write",
			cfg: Config{
				Name:            "loki.write",
				Headers:         map[string]string{"X-Custom": "a", "x-scope-orgid": "user-tenant", "Content-Type": "text/plain"},
				TenantID:        "team-a",
				ContentType:     "application/x-protobuf",
				ContentEncoding: "snappy",
			},
			want: map[string]string{
				"X-Custom":         "a",
				"X-Scope-Orgid":    "team-a", // tenant_id wins over a header of that name
				"Content-Type":     "application/x-protobuf",
				"Content-Encoding": "snappy",
				"User-Agent":       userAgent,
			},
			none: []string{"X-Prometheus-Remote-Write-Version"},
		},
		{
			name: "loki.write without tenant",
			cfg: Config{
				Name:            "loki.write",
				Headers:         map[string]string{"X-Scope-OrgID": "from-headers"},
				ContentType:     "application/x-protobuf",
				ContentEncoding: "snappy",
			},
			want: map[string]string{"X-Scope-OrgID": "from-headers", "User-Agent": userAgent},
		},
		{
			name: "prometheus.remote_write",
			cfg: Config{
				Name:            "remote_write",
				Headers:         map[string]string{"X-Scope-OrgID": "team-b", "User-Agent": "mine"},
				ContentType:     "application/x-protobuf",
				ContentEncoding: "snappy",
				ProtocolHeaders: map[string]string{"X-Prometheus-Remote-Write-Version": "0.1.0"},
			},
			want: map[string]string{
				"X-Scope-OrgID":                     "team-b",
				"Content-Type":                      "application/x-protobuf",
				"Content-Encoding":                  "snappy",
				"User-Agent":                        userAgent,
				"X-Prometheus-Remote-Write-Version": "0.1.0",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, got := newServer(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
			tc.cfg.URL = srv.URL + "/push"
			c := newClient(t, tc.cfg)
			for range 2 { // the second request must send the same headers
				res := c.Post(context.Background(), []byte("payload"))
				require.NoError(t, res.Err)
				require.Equal(t, http.StatusNoContent, res.Status)
				r := <-got
				require.Equal(t, http.MethodPost, r.method)
				require.Equal(t, "payload", r.body)
				for k, v := range tc.want {
					require.Equal(t, []string{v}, r.header.Values(k), "header %s", k)
				}
				for _, k := range tc.none {
					require.Empty(t, r.header.Values(k), "header %s", k)
				}
			}
		})
	}
}

func TestPostResults(t *testing.T) {
	long := strings.Repeat("x", 20<<10)
	for _, tc := range []struct {
		name         string
		maxErrorBody int
		status       int
		retryAfter   string
		body         string
		want         Result // Err: compared by message
		wantErr      string
	}{
		{name: "accepted", status: 200, body: "ignored", want: Result{Status: 200}},
		{name: "no content", status: 204, want: Result{Status: 204}},
		{
			name: "server error", status: 500, body: "  boom\n",
			want:    Result{Status: 500, Body: "boom"},
			wantErr: "server returned HTTP status 500 Internal Server Error: boom",
		},
		{
			name: "rate limited", status: 429, retryAfter: "7", body: "slow down",
			want:    Result{Status: 429, RetryAfter: 7 * time.Second, Body: "slow down"},
			wantErr: "server returned HTTP status 429 Too Many Requests: slow down",
		},
		{
			name: "retry-after capped", status: 503, retryAfter: "86400",
			want:    Result{Status: 503, RetryAfter: time.Hour},
			wantErr: "server returned HTTP status 503 Service Unavailable: ",
		},
		{
			name: "bad request", status: 400, body: "out of order sample",
			want:    Result{Status: 400, Body: "out of order sample"},
			wantErr: "server returned HTTP status 400 Bad Request: out of order sample",
		},
		{
			name: "default body bound", status: 400, body: long,
			want:    Result{Status: 400, Body: long[:DefaultMaxErrorBody]},
			wantErr: "server returned HTTP status 400 Bad Request: " + long[:512],
		},
		{
			name: "larger body bound, message still short", maxErrorBody: 16 << 10, status: 400, body: long,
			want:    Result{Status: 400, Body: long[:16<<10]},
			wantErr: "server returned HTTP status 400 Bad Request: " + long[:512] + "…",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			})
			c := newClient(t, Config{URL: srv.URL, MaxErrorBody: tc.maxErrorBody})
			res := c.Post(context.Background(), nil)
			if tc.wantErr == "" {
				require.NoError(t, res.Err)
			} else {
				require.EqualError(t, res.Err, tc.wantErr)
			}
			require.Equal(t, tc.retryAfter, res.Header.Get("Retry-After"), "response headers")
			res.Err, res.Header = nil, nil
			require.Equal(t, tc.want, res)
		})
	}
}

func TestWrapTransport(t *testing.T) {
	srv, got := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Answer", "42")
		w.WriteHeader(http.StatusNoContent)
	})
	c := newClient(t, Config{URL: srv.URL, WrapTransport: func(next http.RoundTripper) (http.RoundTripper, error) {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			r.Header.Set("Authorization", "signed")
			return next.RoundTrip(r)
		}), nil
	}})
	res := c.Post(context.Background(), []byte("x"))
	require.NoError(t, res.Err)
	require.Equal(t, "42", res.Header.Get("X-Answer"))
	require.Equal(t, "signed", (<-got).header.Get("Authorization"))

	_, err := New(Config{URL: srv.URL, Timeout: time.Second, WrapTransport: func(http.RoundTripper) (http.RoundTripper, error) {
		return nil, errors.New("no credentials")
	}})
	require.ErrorContains(t, err, "no credentials")
}

// ReadAnswer keeps the start of a 2xx answer (Elasticsearch's bulk results); without it a
// 2xx answer's body is not read.
func TestReadAnswer(t *testing.T) {
	srv, _ := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"errors":false,"items":[]}`))
	})
	res := newClient(t, Config{URL: srv.URL, ReadAnswer: 10}).Post(context.Background(), []byte("x"))
	require.NoError(t, res.Err)
	require.Equal(t, `{"errors":`, string(res.Answer))
	res = newClient(t, Config{URL: srv.URL}).Post(context.Background(), []byte("x"))
	require.NoError(t, res.Err)
	require.Nil(t, res.Answer)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestPostNoResponse(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close() // nothing listens any more
	c := newClient(t, Config{URL: srv.URL})
	res := c.Post(context.Background(), []byte("x"))
	require.Error(t, res.Err)
	require.Equal(t, 0, res.Status)
	require.True(t, res.Retryable())
}

func TestNewRejects(t *testing.T) {
	_, err := New(Config{URL: "http://127.0.0.1:1"})
	require.ErrorContains(t, err, "timeout must be positive")
}

// blockingServer answers 200 once release is called (at the latest when the test ends)
// and signals each request's arrival on arrived.
func blockingServer(t *testing.T) (srv *httptest.Server, arrived <-chan struct{}, release func()) {
	t.Helper()
	arr := make(chan struct{}, 10)
	ch := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(ch) }) }
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arr <- struct{}{}
		select {
		case <-ch:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(release) // runs before srv.Close, which waits for the handlers
	return srv, arr, release
}

func TestPostTimeout(t *testing.T) {
	srv, _, _ := blockingServer(t)
	c := newClient(t, Config{URL: srv.URL, Timeout: 50 * time.Millisecond})
	res := c.Post(context.Background(), nil)
	require.ErrorIs(t, res.Err, context.DeadlineExceeded)
	require.Equal(t, 0, res.Status)
	require.True(t, res.Retryable())
}
