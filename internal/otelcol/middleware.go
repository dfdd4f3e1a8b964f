package otelcol

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"unicode/utf8"

	"go.opentelemetry.io/collector/extension/extensionmiddleware"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// CountFunc counts one request or response: transport is "http" or "grpc", code the HTTP
// status ("200") or the gRPC code name ("Unavailable"); "error" when no answer came.
type CountFunc func(transport, code string)

// Server is a server middleware for the OTLP receiver: it counts answers by status code, and
// corrects two answers of the collector's HTTP handlers:
//   - an over-size body is answered 400 (they read the body with io.ReadAll and report any
//     read error as a bad request); it becomes 413, which tells the sender that retrying
//     the same body cannot work;
//   - a JSON body that is not valid UTF-8 is answered 500 (the decoding error quotes the
//     bad bytes, and their JSON encoder then fails on the error message itself); such
//     bodies are answered 400 here before reaching them.
type Server struct {
	lifecycle
	count CountFunc
	// stopping ends when CancelRequests is called; every request's context ends with it.
	stopping context.Context
	cancel   context.CancelFunc
}

var (
	_ extensionmiddleware.HTTPServer = (*Server)(nil)
	_ extensionmiddleware.GRPCServer = (*Server)(nil)
)

// NewServer returns a server middleware counting with count (which may be nil).
func NewServer(count CountFunc) *Server {
	if count == nil {
		count = func(string, string) {}
	}
	stopping, cancel := context.WithCancel(context.Background())
	return &Server{count: count, stopping: stopping, cancel: cancel}
}

// CancelRequests ends the context of every request being served, and of every later one:
// their handlers stop waiting for the next component and answer (an error the sender
// retries: 503 / UNAVAILABLE). A stopping receiver calls it once in-flight requests have had
// their grace, so that its shutdown does not wait on a downstream acknowledgement that may
// never come.
func (s *Server) CancelRequests() { s.cancel() }

// endedWith returns ctx, ended as well when also ends (CancelRequests, Abort).
func endedWith(ctx, also context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(also, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

// GetHTTPHandler implements extensionmiddleware.HTTPServer. The collector runs it after
// its size limit and decompression, so the body it sees is already limited.
func (s *Server) GetHTTPHandler(context.Context) (extensionmiddleware.WrapHTTPHandlerFunc, error) {
	return func(_ context.Context, next http.Handler) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := endedWith(r.Context(), s.stopping)
			defer cancel()
			r = r.WithContext(ctx)
			body := &limitWatcher{ReadCloser: r.Body}
			r.Body = body
			sw := &statusWriter{ResponseWriter: w, body: body}
			if isJSON(r) && r.Method == http.MethodPost {
				raw, err := io.ReadAll(r.Body)
				switch {
				case err != nil:
					writeStatus(sw, http.StatusBadRequest, "failed to read the request body")
				case !utf8.Valid(raw):
					writeStatus(sw, http.StatusBadRequest, "the JSON body is not valid UTF-8")
				default:
					r.Body = io.NopCloser(bytes.NewReader(raw))
					next.ServeHTTP(sw, r)
				}
				s.count("http", strconv.Itoa(sw.code))
				return
			}
			next.ServeHTTP(sw, r)
			if sw.code == 0 {
				sw.code = http.StatusOK
			}
			s.count("http", strconv.Itoa(sw.code))
		}), nil
	}, nil
}

// GetGRPCServerOptions implements extensionmiddleware.GRPCServer.
func (s *Server) GetGRPCServerOptions(context.Context) ([]grpc.ServerOption, error) {
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, cancel := endedWith(ctx, s.stopping)
		defer cancel()
		resp, err := handler(ctx, req)
		s.count("grpc", status.Code(err).String())
		return resp, err
	})}, nil
}

func isJSON(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// writeStatus answers code with an OTLP/JSON status body (google.rpc.Status), as the
// collector's handlers do.
func writeStatus(w http.ResponseWriter, code int, msg string) {
	grpcCode := 3 // INVALID_ARGUMENT
	body, _ := json.Marshal(map[string]any{"code": grpcCode, "message": msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// limitWatcher remembers whether reading the body hit http.MaxBytesReader's limit.
type limitWatcher struct {
	io.ReadCloser
	tooLarge bool
}

func (l *limitWatcher) Read(p []byte) (int, error) {
	n, err := l.ReadCloser.Read(p)
	var mbe *http.MaxBytesError
	if err != nil && errors.As(err, &mbe) {
		l.tooLarge = true
	}
	return n, err
}

type statusWriter struct {
	http.ResponseWriter
	body *limitWatcher
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if code == http.StatusBadRequest && w.body.tooLarge {
		code = http.StatusRequestEntityTooLarge
	}
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Client is a client middleware for the OTLP exporters: it counts the backend's answers
// (every attempt, retries included) by status code, and makes the HTTP exporter honour a
// Retry-After sent with 502 or 504: otlphttpexporter retries those but reads Retry-After
// only on 429 and 503 (the OTLP specification's throttling answers), so such an answer is
// handed to it as a 503.
type Client struct {
	lifecycle
	count CountFunc
	// aborted ends when Abort is called; every request's context ends with it.
	aborted context.Context
	abort   context.CancelFunc
}

var (
	_ extensionmiddleware.HTTPClient = (*Client)(nil)
	_ extensionmiddleware.GRPCClient = (*Client)(nil)
)

// NewClient returns a client middleware counting with count (which may be nil).
func NewClient(count CountFunc) *Client {
	if count == nil {
		count = func(string, string) {}
	}
	aborted, abort := context.WithCancel(context.Background())
	return &Client{count: count, aborted: aborted, abort: abort}
}

// Abort ends every request under way and every later one at once (they fail as cancelled):
// an exporter calls it when its flush deadline passes, so that its shutdown does not wait
// for attempts to the backend that the shutdown budget no longer allows.
func (c *Client) Abort() { c.abort() }

// GetHTTPRoundTripper implements extensionmiddleware.HTTPClient.
func (c *Client) GetHTTPRoundTripper(context.Context) (extensionmiddleware.WrapHTTPRoundTripperFunc, error) {
	return func(_ context.Context, next http.RoundTripper) (http.RoundTripper, error) {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			ctx, cancel := endedWith(r.Context(), c.aborted)
			resp, err := next.RoundTrip(r.WithContext(ctx))
			if err != nil {
				cancel()
				c.count("http", "error")
				return resp, err
			}
			resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
			c.count("http", strconv.Itoa(resp.StatusCode))
			if (resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusGatewayTimeout) &&
				resp.Header.Get("Retry-After") != "" {
				resp.StatusCode = http.StatusServiceUnavailable
				resp.Status = "503 Service Unavailable (was " + resp.Status + ")"
			}
			return resp, nil
		}), nil
	}, nil
}

// GetGRPCClientOptions implements extensionmiddleware.GRPCClient.
func (c *Client) GetGRPCClientOptions(context.Context) ([]grpc.DialOption, error) {
	return []grpc.DialOption{grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		ctx, cancel := endedWith(ctx, c.aborted)
		defer cancel()
		err := invoker(ctx, method, req, reply, cc, opts...)
		c.count("grpc", status.Code(err).String())
		return err
	})}, nil
}

// cancelOnClose releases a response's request context once its body is closed (the
// context must live while the body is read).
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
