package write

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/config"
	"github.com/prometheus/common/version"
)

// userAgent is "sonde/<version>".
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

// maxRetryAfter caps a server's Retry-After, so that a bogus value cannot stall the queue
// for days.
const maxRetryAfter = time.Hour

// maxErrorBody is how much of an error response is read: enough for Loki's messages.
const maxErrorBody = 16 << 10

// client posts snappy-compressed push requests to one endpoint.
type client struct {
	url     string
	hc      *http.Client
	headers map[string]string
	tenant  string
	timeout time.Duration
}

func newClient(ep *EndpointConfig) (*client, error) {
	hc, err := config.NewClientFromConfig(ep.HTTPClientConfig, "loki.write", config.WithUserAgent(userAgent))
	if err != nil {
		return nil, fmt.Errorf("build HTTP client: %w", err)
	}
	return &client{url: ep.URL.String(), hc: hc, headers: ep.Headers, tenant: ep.TenantID, timeout: time.Duration(ep.Timeout)}, nil
}

// pushResult is the outcome of one request.
type pushResult struct {
	status     int           // 0 when no response came
	retryAfter time.Duration // from the Retry-After header; 0 when absent
	body       string        // start of the response body
	err        error         // nil on 2xx
}

// retryable reports whether the request should be sent again: no response, 5xx or 429.
// Other 4xx mean Loki will never take these entries.
func (r pushResult) retryable() bool {
	return r.status == 0 || r.status/100 == 5 || r.status == http.StatusTooManyRequests
}

// push sends one request body.
func (c *client) push(ctx context.Context, body []byte) pushResult {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return pushResult{err: err}
	}
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	if c.tenant != "" {
		req.Header.Set("X-Scope-OrgID", c.tenant)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("User-Agent", userAgent)

	resp, err := c.hc.Do(req)
	if err != nil {
		return pushResult{err: err}
	}
	defer func() {
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}()
	res := pushResult{status: resp.StatusCode}
	if resp.StatusCode/100 == 2 {
		return res
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	res.body = strings.TrimSpace(string(b))
	res.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	res.err = fmt.Errorf("server returned HTTP status %s: %s", resp.Status, truncate(res.body, 512))
	return res
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP date. It returns 0
// when the header is absent or invalid, and caps the delay at maxRetryAfter.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		d = time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// backoff returns the delay before retry number attempt (0 for the first retry):
// exponential from minB, capped at maxB, with jitter in the upper half, so that a delay is
// never shorter than the previous one's lower bound and agents retrying together spread out.
func backoff(attempt int, minB, maxB time.Duration) time.Duration {
	d := maxB
	if attempt < 62 && minB<<attempt > 0 && minB<<attempt < maxB {
		d = minB << attempt
	}
	j := d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
	return max(j, minB)
}
