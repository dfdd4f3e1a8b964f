// Package estest runs a real search engine that speaks the Elasticsearch bulk and search
// APIs for the tests of elasticsearch.write: ZincSearch (built by `make deps-zincsearch`),
// on 127.0.0.1 with its data in a temporary directory and an admin user, its
// Elasticsearch-compatible API under /es/. It also reads back what was stored.
package estest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/sondehq/sonde/exporters/backendtest"
)

// ZincVersion is the ZincSearch release the tests run against.
const ZincVersion = "v0.4.10"

// The admin user ZincSearch is started with.
const (
	User     = "admin"
	Password = "Sonde#test-1"
)

// Binary returns the path of the ZincSearch binary: $SONDE_ZINCSEARCH_BIN, else
// ${SONDE_CACHE:-$HOME/.cache/sonde}/bin/zincsearch-<ZincVersion>; a missing one fails the
// test, asking for `make deps-zincsearch`.
func Binary(t testing.TB) string {
	t.Helper()
	return backendtest.Binary(t, "ZincSearch", "SONDE_ZINCSEARCH_BIN", "zincsearch", ZincVersion, "make deps-zincsearch")
}

// Zinc is a ZincSearch process started for a test.
type Zinc struct {
	t    testing.TB
	bin  string
	Dir  string
	Port int
	proc backendtest.Process
}

// Start starts ZincSearch and waits until it answers; it is stopped when the test ends.
func Start(t testing.TB) *Zinc {
	t.Helper()
	backendtest.SkipShort(t, "ZincSearch")
	z := &Zinc{t: t, bin: Binary(t), Dir: t.TempDir(), proc: backendtest.Process{Name: "ZincSearch"}}
	backendtest.StartOnFreePorts(t, &z.proc, func() { z.Port = backendtest.FreePort(t) }, z.start)
	z.proc.StopAtEnd(t, z.Stop)
	return z
}

func (z *Zinc) start() error {
	return z.proc.Start(z.bin, nil, []string{
		"ZINC_FIRST_ADMIN_USER=" + User,
		"ZINC_FIRST_ADMIN_PASSWORD=" + Password,
		"ZINC_DATA_PATH=" + z.Dir,
		"ZINC_SERVER_ADDRESS=127.0.0.1",
		"ZINC_SERVER_PORT=" + strconv.Itoa(z.Port),
		"GIN_MODE=release",
		// Nothing leaves the machine.
		"ZINC_TELEMETRY=false",
		"ZINC_SENTRY=false",
		"ZINC_PROFILER=false",
		// Documents become searchable within 100ms; no fsync per document (the tests do
		// not crash the machine, and ZincSearch's WAL syncs each document otherwise).
		"ZINC_WAL_SYNC_INTERVAL=100ms",
		"ZINC_WAL_REDOLOG_NO_SYNC=true",
	}, func() bool {
		req, _ := http.NewRequest(http.MethodGet, z.ESURL()+"/", nil)
		req.SetBasicAuth(User, Password)
		code, _, err := backendtest.Do(req)
		return err == nil && code == http.StatusOK
	})
}

// Stop stops ZincSearch (SIGTERM; SIGKILL after 10 s). Stopping twice is fine.
func (z *Zinc) Stop() { z.proc.Stop(10 * time.Second) }

// PID is the ZincSearch process's id (0 when it is not running), e.g. to read its CPU time.
func (z *Zinc) PID() int { return z.proc.PID() }

// Output returns what ZincSearch printed.
func (z *Zinc) Output() string { return z.proc.Output() }

// URL is ZincSearch's base URL, e.g. http://127.0.0.1:4080.
func (z *Zinc) URL() string { return "http://127.0.0.1:" + strconv.Itoa(z.Port) }

// ESURL is the base URL of its Elasticsearch-compatible API: what elasticsearch.write's
// endpoint.url is set to (bulk requests go to <ESURL>/_bulk).
func (z *Zinc) ESURL() string { return z.URL() + "/es" }

// Doc is one stored document as elasticsearch.write writes it.
type Doc struct {
	Index     string            `json:"-"`
	Timestamp time.Time         `json:"@timestamp"`
	Message   string            `json:"message"`
	Labels    map[string]string `json:"labels,omitempty"`
	Metadata  map[string]string `json:"metadata,omitempty"`
}

// Search returns up to size documents of index (a name, or a comma-separated list) that a
// query_string query matches ("" or "*": every document).
func (z *Zinc) Search(ctx context.Context, index, query string, size int) ([]Doc, error) {
	q := map[string]any{"query": map[string]any{"match_all": map[string]any{}}, "size": size}
	if query != "" && query != "*" {
		q["query"] = map[string]any{"query_string": map[string]any{"query": query}}
	}
	body, _ := json.Marshal(q)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, z.ESURL()+"/"+index+"/_search", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(User, Password)
	req.Header.Set("Content-Type", "application/json")
	code, b, err := backendtest.Do(req)
	if err != nil {
		return nil, err
	}
	if code == http.StatusBadRequest && bytes.Contains(b, []byte("does not exists")) {
		return nil, nil // no document yet
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("search %s: HTTP %d: %s", index, code, b)
	}
	var res struct {
		Hits struct {
			Hits []struct {
				Index  string `json:"_index"`
				Source Doc    `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("search %s: %w: %s", index, err, b)
	}
	docs := make([]Doc, 0, len(res.Hits.Hits))
	for _, h := range res.Hits.Hits {
		d := h.Source
		d.Index = h.Index
		docs = append(docs, d)
	}
	return docs, nil
}

// WaitDocs waits until index holds at least want documents (that query matches) and
// returns them all (at most 10000), failing the test after timeout.
func (z *Zinc) WaitDocs(t testing.TB, index, query string, want int, timeout time.Duration) []Doc {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		docs, err := z.Search(ctx, index, query, 10000)
		cancel()
		if err == nil && len(docs) >= want {
			return docs
		}
		if time.Now().After(deadline) {
			t.Fatalf("ZincSearch index %s holds %d documents, want %d, after %v (last error: %v)", index, len(docs), want, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// PutMapping sets index's mapping (ZincSearch's format: properties with a type among
// text, keyword, numeric, bool, date), creating the index.
func (z *Zinc) PutMapping(t testing.TB, index string, properties map[string]string) {
	t.Helper()
	props := map[string]any{}
	for name, typ := range properties {
		props[name] = map[string]any{"type": typ, "index": true, "store": true}
	}
	body, _ := json.Marshal(map[string]any{"name": index, "storage_type": "disk", "mappings": map[string]any{"properties": props}})
	req, err := http.NewRequest(http.MethodPost, z.URL()+"/api/index", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(User, Password)
	req.Header.Set("Content-Type", "application/json")
	code, b, err := backendtest.Do(req)
	if err != nil || code != http.StatusOK {
		t.Fatalf("create index %s with a mapping: HTTP %d %v: %s", index, code, err, b)
	}
}
