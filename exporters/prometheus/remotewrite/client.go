package remotewrite

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

// userAgent is "sonde/<version>": the version stamped into
// github.com/prometheus/common/version.Version at build time, else the module version.
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

// maxRetryAfter caps a receiver's Retry-After, so that a bogus value cannot stall the queue
// for days.
const maxRetryAfter = time.Hour

// client posts remote-write 1.0 requests. It is sonde's own rather than
// storage/remote.Client because that one reports Retry-After only inside
// remote.RecoverableError's unexported field, and reduces every failure to an error, while
// the queue needs the status (retry or drop) and the Retry-After duration.
type client struct {
	url     string
	hc      *http.Client
	headers map[string]string
	timeout time.Duration
}

func newClient(ep EndpointConfig) (*client, error) {
	hc, err := config.NewClientFromConfig(ep.HTTPClientConfig, "remote_write", config.WithUserAgent(userAgent))
	if err != nil {
		return nil, fmt.Errorf("build HTTP client: %w", err)
	}
	return &client{url: ep.URL.String(), hc: hc, headers: ep.Headers, timeout: time.Duration(ep.RemoteTimeout)}, nil
}

// sendResult is the outcome of one request.
type sendResult struct {
	status     int           // 0 when no response came
	retryAfter time.Duration // from the Retry-After header; 0 when absent
	body       string        // start of the response body, for logs
	err        error         // nil on 2xx
}

// retryable reports whether the request should be sent again: no response, 5xx or 429.
// Other 4xx (and any other status) mean the receiver will never take this data.
func (r sendResult) retryable() bool {
	return r.status == 0 || r.status/100 == 5 || r.status == http.StatusTooManyRequests
}

const maxErrorBody = 512

// inflightGrace is how long a request in flight may still complete once the sender stops:
// a request the receiver took but whose answer the sender never read would be sent again
// after a restart (a duplicate, older than what the receiver has by then).
const inflightGrace = 5 * time.Second

// store sends one snappy-compressed prompb.WriteRequest. When ctx ends while the request is
// in flight, the request gets inflightGrace more (within remote_timeout) to complete.
func (c *client) store(ctx context.Context, body []byte) sendResult {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		t := time.NewTimer(inflightGrace)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-rctx.Done():
		}
	})
	defer stop()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return sendResult{err: err}
	}
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")

	resp, err := c.hc.Do(req)
	if err != nil {
		return sendResult{err: err}
	}
	defer func() {
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}()
	res := sendResult{status: resp.StatusCode}
	if resp.StatusCode/100 == 2 {
		return res
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	res.body = strings.TrimSpace(string(b))
	res.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	res.err = fmt.Errorf("server returned HTTP status %s: %s", resp.Status, res.body)
	return res
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

// backoff returns the delay before retry number attempt (0 for the first retry): exponential
// from minB, capped at maxB, with jitter in the upper half, so a delay is never shorter than
// the previous one's lower bound and shards retrying together spread out.
func backoff(attempt int, minB, maxB time.Duration) time.Duration {
	d := maxB
	if attempt < 63 && minB <= maxB>>attempt { // minB<<attempt <= maxB, without overflow
		d = minB << attempt
	}
	j := d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
	return max(j, minB)
}
