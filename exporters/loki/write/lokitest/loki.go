package lokitest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/sondehq/sonde/exporters/backendtest"
)

// LokiVersion is the Loki release the tests run against (built by `make deps`).
const LokiVersion = "v3.7.8"

// Binary returns the path of the Loki binary: $SONDE_LOKI_BIN, else
// ${SONDE_CACHE:-$HOME/.cache/sonde}/bin/loki-<LokiVersion>. A missing binary fails the
// test: the real backend is part of the test suite, not optional.
func Binary(t testing.TB) string {
	t.Helper()
	return backendtest.Binary(t, "Loki", "SONDE_LOKI_BIN", "loki", LokiVersion, "make deps")
}

// ConfigFile returns the path of testdata/backends/loki.yaml in this repository.
func ConfigFile(t testing.TB) string {
	t.Helper()
	return backendtest.RepoFile(t, "testdata/backends/loki.yaml")
}

// Loki is a Loki process started for a test, listening on 127.0.0.1 only, with its data in
// a temporary directory that survives Restart.
type Loki struct {
	t        testing.TB
	bin      string
	config   string
	Dir      string
	HTTPPort int
	GRPCPort int

	proc backendtest.Process
}

// Start starts Loki and waits until it is ready; it is stopped when the test ends.
func Start(t testing.TB) *Loki {
	t.Helper()
	backendtest.SkipShort(t, "Loki")
	l := &Loki{t: t, bin: Binary(t), config: ConfigFile(t), Dir: t.TempDir(), proc: backendtest.Process{Name: "Loki"}}
	backendtest.StartOnFreePorts(t, &l.proc, func() {
		l.HTTPPort, l.GRPCPort = backendtest.FreePort(t), backendtest.FreePort(t)
	}, l.start)
	l.proc.StopAtEnd(t, l.Stop)
	return l
}

// URL is Loki's base URL, e.g. http://127.0.0.1:3100.
func (l *Loki) URL() string { return "http://127.0.0.1:" + strconv.Itoa(l.HTTPPort) }

// PushURL is the push endpoint.
func (l *Loki) PushURL() string { return l.URL() + "/loki/api/v1/push" }

// Output returns what Loki printed.
func (l *Loki) Output() string { return l.proc.Output() }

func (l *Loki) start() error {
	return l.proc.Start(l.bin, []string{"-config.file=" + l.config, "-config.expand-env=true"}, []string{
		"LOKI_DATA_DIR=" + l.Dir,
		"LOKI_HTTP_PORT=" + strconv.Itoa(l.HTTPPort),
		"LOKI_GRPC_PORT=" + strconv.Itoa(l.GRPCPort),
	}, backendtest.HTTPOK(l.URL()+"/ready"))
}

// Stop stops Loki gracefully (SIGTERM; SIGKILL after 30 s). Stopping twice is fine.
func (l *Loki) Stop() { l.proc.Stop(30 * time.Second) }

// Kill stops Loki with SIGKILL.
func (l *Loki) Kill() { l.proc.Kill() }

// Restart starts Loki again on the same ports and data directory, after Stop or Kill.
func (l *Loki) Restart() {
	l.t.Helper()
	l.Stop()
	if err := l.start(); err != nil {
		l.t.Fatalf("%v:\n%s", err, l.Output())
	}
}

// Stream is one stream read back from Loki.
type Stream struct {
	Labels  map[string]string
	Entries []Entry
}

// Entry is one entry read back from Loki.
type Entry struct {
	Timestamp          time.Time
	Line               string
	StructuredMetadata map[string]string
}

// QueryRange runs a LogQL log query over [start, end] (forward, at most limit entries) and
// returns the streams, sorted by their labels. Structured metadata comes back apart from
// the stream labels (the categorize-labels encoding).
func (l *Loki) QueryRange(ctx context.Context, query string, start, end time.Time, limit int) ([]Stream, error) {
	return QueryRange(ctx, l.URL(), "", query, start, end, limit)
}

// QueryRange queries the Loki at baseURL (tenant may be empty).
func QueryRange(ctx context.Context, baseURL, tenant, query string, start, end time.Time, limit int) ([]Stream, error) {
	v := url.Values{}
	v.Set("query", query)
	v.Set("start", strconv.FormatInt(start.UnixNano(), 10))
	v.Set("end", strconv.FormatInt(end.UnixNano(), 10))
	v.Set("limit", strconv.Itoa(limit))
	v.Set("direction", "forward")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/loki/api/v1/query_range?"+v.Encode(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Loki-Response-Encoding-Flags", "categorize-labels")
	if tenant != "" {
		req.Header.Set("X-Scope-OrgID", tenant)
	}
	status, raw, err := backendtest.Do(req)
	if err != nil {
		return nil, err
	}
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Stream map[string]string   `json:"stream"`
				Values [][]json.RawMessage `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("query_range: HTTP %d: %s", status, raw)
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return nil, fmt.Errorf("query_range: %w", err)
	}
	if body.Data.ResultType != "streams" {
		return nil, fmt.Errorf("query_range: result type %q, want streams", body.Data.ResultType)
	}
	var out []Stream
	for _, r := range body.Data.Result {
		s := Stream{Labels: r.Stream}
		for _, v := range r.Values {
			if len(v) < 2 {
				return nil, errors.New("query_range: a value with fewer than 2 fields")
			}
			var tsStr, line string
			if err := json.Unmarshal(v[0], &tsStr); err != nil {
				return nil, err
			}
			if err := json.Unmarshal(v[1], &line); err != nil {
				return nil, err
			}
			ns, err := strconv.ParseInt(tsStr, 10, 64)
			if err != nil {
				return nil, err
			}
			e := Entry{Timestamp: time.Unix(0, ns), Line: line}
			if len(v) > 2 {
				var cat struct {
					StructuredMetadata map[string]string `json:"structuredMetadata"`
				}
				if err := json.Unmarshal(v[2], &cat); err != nil {
					return nil, err
				}
				e.StructuredMetadata = cat.StructuredMetadata
			}
			s.Entries = append(s.Entries, e)
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i].Labels) < fmt.Sprint(out[j].Labels) })
	return out, nil
}

// WaitEntries queries until the streams matching query over [start, end] hold at least
// want entries in all (polling every 200 ms, failing the test after timeout), and returns
// them. Compare the result with what was written to find duplicates or strays.
func (l *Loki) WaitEntries(t testing.TB, query string, start, end time.Time, want int, timeout time.Duration) []Stream {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var (
		streams []Stream
		err     error
		got     int
	)
	for {
		streams, err = l.QueryRange(context.Background(), query, start, end, max(want*2, 1000))
		got = 0
		for _, s := range streams {
			got += len(s.Entries)
		}
		if err == nil && got >= want {
			return streams
		}
		if time.Now().After(deadline) {
			t.Fatalf("Loki returned %d of %d entries for %s within %s (last error: %v)", got, want, query, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
