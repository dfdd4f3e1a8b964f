package write

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/config"
	"github.com/prometheus/common/version"
)

// maxResponseBody bounds how much of a bulk answer is read: one item per document, about
// 200 bytes each, so a 5 MiB request of short lines is answered in a few MiB.
const maxResponseBody = 64 << 20

// userAgent is "sonde/<version>", as the other push exporters send it.
var userAgent = "sonde/" + sondeVersion()

func sondeVersion() string {
	if version.Version != "" {
		return version.Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return strings.TrimPrefix(bi.Main.Version, "v")
	}
	return "dev"
}

// maxRetryAfter caps a Retry-After header.
const maxRetryAfter = time.Hour

// client posts bulk requests to the nodes of one cluster in turn. It is sonde's own rather
// than httppush.Client because the bulk API's answer to a 200 is the result of every
// document, which the sender must read.
type client struct {
	hc      *http.Client
	urls    []config.URL
	bulk    []string // bulkURL of each node
	header  http.Header
	timeout time.Duration
	next    int // the node of the next request; only the sender uses it
}

// result is the outcome of one bulk request.
type result struct {
	status     int // 0: no answer
	body       []byte
	retryAfter time.Duration
	err        error // nil on 2xx
	node       int
}

// retryable reports whether the whole request should be sent again.
func (r result) retryable() bool {
	return r.status == 0 || r.status/100 == 5 || r.status == http.StatusTooManyRequests
}

func newClient(e *EndpointConfig) (*client, error) {
	hc, err := config.NewClientFromConfig(e.httpClientConfig(), "elasticsearch.write", config.WithUserAgent(userAgent))
	if err != nil {
		return nil, fmt.Errorf("build HTTP client: %w", err)
	}
	h := http.Header{}
	for k, v := range e.Headers {
		h.Set(k, v)
	}
	h.Set("Content-Type", "application/x-ndjson")
	h.Set("User-Agent", userAgent)
	c := &client{hc: hc, urls: e.URL, header: h, timeout: time.Duration(e.Timeout)}
	for _, u := range e.URL {
		c.bulk = append(c.bulk, bulkURL(u))
	}
	return c, nil
}

// post sends body to the next node.
func (c *client) post(ctx context.Context, body []byte) result {
	node := c.next
	c.next = (c.next + 1) % len(c.bulk)
	res := c.do(ctx, node, body)
	res.node = node
	return res
}

func (c *client) do(ctx context.Context, node int, body []byte) result {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.bulk[node], bytes.NewReader(body))
	if err != nil {
		return result{err: err}
	}
	req.Header = c.header.Clone()
	resp, err := c.hc.Do(req)
	if err != nil {
		return result{err: err}
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}()
	limit := int64(maxResponseBody)
	if resp.StatusCode/100 != 2 {
		limit = 16 << 10
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	res := result{status: resp.StatusCode, body: b}
	if resp.StatusCode/100 == 2 {
		if err != nil {
			// The documents may be stored, but their results are lost: sent again.
			res.status, res.err = 0, fmt.Errorf("read bulk answer: %w", err)
		}
		return res
	}
	res.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	msg := strings.TrimSpace(string(b))
	if len(msg) > 512 {
		msg = msg[:512] + "…"
	}
	res.err = fmt.Errorf("server returned HTTP status %s: %s", resp.Status, msg)
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		res.err = fmt.Errorf("authentication or authorization failed (check basic_auth, api_key or authorization): %w", res.err)
	}
	return res
}

func (c *client) closeIdle() { c.hc.CloseIdleConnections() }

// parseRetryAfter reads a Retry-After header (seconds or an HTTP date), capped.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		d = time.Duration(min(max(secs, 0), int64(maxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}
