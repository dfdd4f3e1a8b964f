package write

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/components/loki/source/file"
	"github.com/sondehq/sonde/config"
	"github.com/sondehq/sonde/exporters/elasticsearch/write/estest"
	lokiwrite "github.com/sondehq/sonde/exporters/loki/write"
	"github.com/sondehq/sonde/exporters/loki/write/lokitest"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// TestFanoutToLokiAndElasticsearch: loki.source.file forwards to loki.write and
// elasticsearch.write at once, under a real controller, to a real Loki and a real
// ZincSearch. While Elasticsearch answers 503 the lines still reach Loki (each sink has its
// own queue), and the source commits no position: the fan-out acknowledges a batch only
// once both sinks did. Once Elasticsearch is back, the positions reach the end of the file,
// and each backend holds every line once.
func TestFanoutToLokiAndElasticsearch(t *testing.T) {
	loki := lokitest.Start(t)
	z := estest.Start(t)
	p, esURL := newFaultProxy(t, z, "")
	p.down.Store(true)

	dir, data := t.TempDir(), t.TempDir()
	log := filepath.Join(dir, "app.log")
	yml := fmt.Sprintf(`
components:
  loki.source.file/f:
    paths: [%q]
    labels: {job: fanout}
    batch_wait: 10ms
    sync_period: 20ms
    forward_to: [loki.write/w, elasticsearch.write/es]
  loki.write/w:
    endpoints:
      - url: %q
        batch_wait: 50ms
  elasticsearch.write/es:
    endpoint: {url: %q}
    index: fanout
    batch_wait: 50ms
    min_backoff: 10ms
    max_backoff: 50ms
`, filepath.Join(dir, "*.log"), loki.PushURL(), esURL)
	reg, err := pipeline.NewRegistry(file.Registration, lokiwrite.Registration, Registration)
	require.NoError(t, err)
	f, err := config.Parse("agent.yaml", []byte(yml), reg, func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	metrics := prometheus.NewRegistry()
	logs := &pipelinetest.LogBuffer{}
	c := pipeline.NewController(pipeline.ControllerOptions{
		Registry: reg, Logger: logs.Logger(slog.LevelInfo), Registerer: metrics, DataPath: data,
		ShutdownTimeout: 10 * time.Second,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	require.NoError(t, c.Apply(f.Specs))

	const lines = 300
	begin := time.Now().Add(-time.Minute)
	var b strings.Builder
	for i := range lines {
		fmt.Fprintf(&b, "line-%06d\n", i)
	}
	require.NoError(t, os.WriteFile(log, []byte(b.String()), 0o644))
	size := int64(b.Len())

	// Loki gets every line while Elasticsearch refuses them.
	loki.WaitEntries(t, `{job="fanout"}`, begin, time.Now().Add(time.Minute), lines, 60*time.Second)
	require.Eventually(t, func() bool {
		return pipelinetest.MetricSum(t, metrics, "sonde_elasticsearch_write_retried_entries_total") > 0
	}, 30*time.Second, 5*time.Millisecond, "elasticsearch.write retries")
	require.Zero(t, pipelinetest.MetricSum(t, metrics, "sonde_loki_source_file_batches_acknowledged_total"),
		"no batch acknowledged while one sink has not stored it")
	require.Equal(t, float64(size), pipelinetest.MetricSum(t, metrics, "sonde_loki_source_file_positions_lag_bytes"))
	require.Zero(t, savedOffset(t, filepath.Join(data, "loki.source.file", "f", "positions.json")), "no position committed")

	// Elasticsearch is back: the positions reach the end of the file.
	p.down.Store(false)
	require.Eventually(t, func() bool {
		return savedOffset(t, filepath.Join(data, "loki.source.file", "f", "positions.json")) == size
	}, 60*time.Second, 10*time.Millisecond, "positions committed once both sinks acknowledged")

	docs := z.WaitDocs(t, "fanout", "", lines, 30*time.Second)
	seen := map[string]int{}
	for _, d := range docs {
		seen[d.Message]++
		require.Equal(t, map[string]string{"job": "fanout", "filename": log}, d.Labels)
	}
	require.Len(t, seen, lines)
	for l, n := range seen {
		require.Equal(t, 1, n, "%s stored %d times in ZincSearch", l, n)
	}
	inLoki := map[string]int{}
	for _, s := range loki.WaitEntries(t, `{job="fanout"}`, begin, time.Now().Add(time.Minute), lines, 60*time.Second) {
		for _, e := range s.Entries {
			inLoki[e.Line]++
		}
	}
	require.Len(t, inLoki, lines)
	for l, n := range inLoki {
		require.Equal(t, 1, n, "%s in Loki %d times", l, n)
	}
}

var offsetRE = regexp.MustCompile(`"offset":(\d+)`)

// savedOffset returns the offset the positions file holds for the one file tailed (0 when
// there is none yet).
func savedOffset(t *testing.T, path string) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0
	}
	require.NoError(t, err)
	m := offsetRE.FindSubmatch(b)
	if m == nil {
		return 0
	}
	n, err := strconv.ParseInt(string(m[1]), 10, 64)
	require.NoError(t, err)
	return n
}
