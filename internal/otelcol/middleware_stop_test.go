package otelcol

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestClientAbort: Abort ends the HTTP requests under way (a backend that never answers)
// and fails later ones at once; an answer's body stays readable until it is closed.
func TestClientAbort(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			<-r.Context().Done()
			return
		}
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		time.Sleep(50 * time.Millisecond)
		_, _ = io.WriteString(w, strings.Repeat("x", 1<<16))
	}))
	defer srv.Close()
	c := NewClient(nil)
	wrap, err := c.GetHTTPRoundTripper(context.Background())
	require.NoError(t, err)
	rt, err := wrap(context.Background(), http.DefaultTransport)
	require.NoError(t, err)
	hc := &http.Client{Transport: rt}

	resp, err := hc.Get(srv.URL + "/ok")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err, "the request context lives until the body is closed")
	require.Len(t, body, 1<<16)
	require.NoError(t, resp.Body.Close())

	errc := make(chan error, 1)
	go func() {
		_, err := hc.Get(srv.URL + "/hang")
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	c.Abort()
	select {
	case err := <-errc:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("the request under way was not aborted")
	}
	_, err = hc.Get(srv.URL + "/ok")
	require.ErrorIs(t, err, context.Canceled, "later requests fail at once")
}
