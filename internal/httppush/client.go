// Package httppush is the HTTP client the push exporters share (loki.write and
// prometheus.remote_write): one POST of an encoded body per request, with the answer sorted
// into delivered, retry or give up, and the helpers a sender needs to retry (Retry-After,
// Backoff), to check the user's extra headers (ValidateHeaders) and to report how its
// requests fare (Status, Redact). Queues, batching and what to do with a refused request
// stay in the exporters.
package httppush

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
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

// DefaultMaxErrorBody is how much of an error response Result.Body keeps when
// Config.MaxErrorBody is 0: enough for a log line.
const DefaultMaxErrorBody = 512

// maxErrorMessage bounds the response body quoted in Result.Err.
const maxErrorMessage = 512

// Config is what an exporter injects to build a Client: its endpoint's settings as the user
// wrote them and its protocol's headers.
type Config struct {
	// Name names the client's dialer (prometheus/common's conntrack name).
	Name string
	// URL is where every request is posted.
	URL string
	// HTTPClientConfig holds the user's authentication, TLS and proxy settings.
	HTTPClientConfig config.HTTPClientConfig
	// Headers are the user's extra headers. TenantID and the protocol's headers replace one
	// of the same name.
	Headers map[string]string
	// TenantID, when not empty, is sent as X-Scope-OrgID.
	TenantID string
	// ContentType and ContentEncoding describe the body; an empty one is not sent.
	ContentType     string
	ContentEncoding string
	// ProtocolHeaders are further headers the protocol requires, such as
	// X-Prometheus-Remote-Write-Version.
	ProtocolHeaders map[string]string
	// Timeout bounds one request.
	Timeout time.Duration
	// MaxErrorBody is how much of a non-2xx response's body Result.Body keeps; 0 means
	// DefaultMaxErrorBody.
	MaxErrorBody int
	// ReadAnswer, when positive, is how much of a 2xx answer's body Result.Answer keeps: for
	// protocols whose receivers report what they did with each item in a 2xx answer
	// (Elasticsearch's bulk API). A 2xx answer whose body cannot be read is then a failure
	// without a status (Retryable).
	ReadAnswer int
	// WrapTransport, when set, wraps the transport built from HTTPClientConfig: request
	// signing that prometheus/common does not do itself (SigV4).
	WrapTransport func(http.RoundTripper) (http.RoundTripper, error)
}

// Client posts request bodies to one URL. It is safe for concurrent use. It is sonde's own
// rather than storage/remote.Client because that one reports Retry-After only inside
// remote.RecoverableError's unexported field, and reduces every failure to an error, while
// the queues need the status (retry or drop) and the Retry-After duration.
type Client struct {
	url          string
	hc           *http.Client
	header       http.Header // sent with every request; Post clones it
	timeout      time.Duration
	maxErrorBody int
	readAnswer   int
}

// New builds a Client from cfg; it fails on an invalid HTTP client configuration.
func New(cfg Config) (*Client, error) {
	if cfg.Timeout <= 0 {
		return nil, fmt.Errorf("timeout must be positive, got %s", cfg.Timeout)
	}
	hc, err := config.NewClientFromConfig(cfg.HTTPClientConfig, cfg.Name, config.WithUserAgent(userAgent))
	if err != nil {
		return nil, fmt.Errorf("build HTTP client: %w", err)
	}
	if cfg.WrapTransport != nil {
		if hc.Transport, err = cfg.WrapTransport(hc.Transport); err != nil {
			return nil, fmt.Errorf("build HTTP client: %w", err)
		}
	}
	// The order matters only where names clash: the user's headers first, so that the
	// tenant and the protocol's headers win.
	h := http.Header{}
	for k, v := range cfg.Headers {
		h.Set(k, v)
	}
	if cfg.TenantID != "" {
		h.Set("X-Scope-OrgID", cfg.TenantID)
	}
	if cfg.ContentType != "" {
		h.Set("Content-Type", cfg.ContentType)
	}
	if cfg.ContentEncoding != "" {
		h.Set("Content-Encoding", cfg.ContentEncoding)
	}
	h.Set("User-Agent", userAgent)
	for k, v := range cfg.ProtocolHeaders {
		h.Set(k, v)
	}
	maxBody := cfg.MaxErrorBody
	if maxBody <= 0 {
		maxBody = DefaultMaxErrorBody
	}
	return &Client{
		url:          cfg.URL,
		hc:           hc,
		header:       h,
		timeout:      cfg.Timeout,
		maxErrorBody: maxBody,
		readAnswer:   cfg.ReadAnswer,
	}, nil
}

// CloseIdleConnections closes the connections kept for reuse; call it when the client is
// no longer used.
func (c *Client) CloseIdleConnections() {
	c.hc.CloseIdleConnections()
}

// Post sends one request with body and reports how it went. It never retries: the caller
// decides from Result.Retryable and Result.RetryAfter.
func (c *Client) Post(ctx context.Context, body []byte) Result {
	rctx, cancel := c.requestContext(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return Result{Err: err}
	}
	req.Header = c.header.Clone()

	resp, err := c.hc.Do(req)
	if err != nil {
		return Result{Err: err}
	}
	defer func() {
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}()
	res := Result{Status: resp.StatusCode, Header: resp.Header}
	if resp.StatusCode/100 == 2 {
		if c.readAnswer > 0 {
			if res.Answer, err = io.ReadAll(io.LimitReader(resp.Body, int64(c.readAnswer))); err != nil {
				return Result{Err: fmt.Errorf("read the answer: %w", err)}
			}
		}
		return res
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, int64(c.maxErrorBody)))
	res.Body = strings.TrimSpace(string(b))
	res.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	res.Err = fmt.Errorf("server returned HTTP status %s: %s", resp.Status, truncate(res.Body, maxErrorMessage))
	return res
}

// requestContext bounds one request by the timeout and by ctx. A sink that lets a request
// in flight outlive its stop (prometheus.remote_write) passes a ctx that ends later.
func (c *Client) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.timeout)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
