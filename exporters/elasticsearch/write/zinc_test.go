package write

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/elasticsearch/write/estest"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// zincArgs is the YAML of an elasticsearch.write to z with the given further keys.
func zincArgs(url, more string) string {
	return "endpoint:\n  url: " + url + "\n  basic_auth: {username: " + estest.User + ", password: \"" + estest.Password + "\"}\nbatch_wait: 50ms\nmin_backoff: 10ms\nmax_backoff: 100ms\n" + more
}

// TestZincDeliversOnce: entries of two namespaces on two days reach the index their
// namespace and date name, each once, with their labels and structured metadata as fields,
// and every batch is acknowledged without error.
func TestZincDeliversOnce(t *testing.T) {
	z := estest.Start(t)
	c, opts, stop := startWriter(t, zincArgs(z.ESURL(), "index: \"logs-{namespace}-%Y.%m.%d\"\nbatch_size: 64KiB\n"))
	defer stop()

	day1 := time.Date(2024, 3, 5, 23, 59, 58, 0, time.UTC) // n entries span 1.5 s
	day2 := day1.Add(2 * time.Second)
	shop := model.LabelSet{"namespace": "Shop", "pod": "web-1"} // upper case: the index is lowercase
	ops := model.LabelSet{"namespace": "ops"}
	a := newAcks()
	const n = 1500
	b1 := entries(shop, "shop1", n, day1)
	for i := range b1 {
		b1[i].StructuredMetadata = labels.FromStrings("trace_id", "abc")
	}
	send(t, c, a.batch("b1", b1))
	send(t, c, a.batch("b2", entries(ops, "ops", n, day1)))
	send(t, c, a.batch("b3", entries(shop, "shop2", n, day2)))
	for _, b := range []string{"b1", "b2", "b3"} {
		require.NoError(t, a.wait(t, b))
	}
	require.Equal(t, float64(3*n), pipelinetest.MetricValue(t, opts.Registerer.(prometheus.Gatherer), "sonde_elasticsearch_write_sent_entries_total"))

	check := func(index string, want int, ls map[string]string, base time.Time) {
		t.Helper()
		docs := z.WaitDocs(t, index, "", want, 30*time.Second)
		seen := map[string]int{}
		for _, d := range docs {
			seen[d.Message]++
			require.Equal(t, ls, d.Labels)
			require.Equal(t, index, d.Index)
			_, num, _ := strings.Cut(d.Message, "-")
			i, err := strconv.Atoi(num)
			require.NoError(t, err)
			// ZincSearch keeps the timestamp as a float: within a microsecond.
			require.WithinDuration(t, base.Add(time.Duration(i)*time.Millisecond), d.Timestamp, time.Microsecond, d.Message)
		}
		require.Len(t, seen, want, "index %s", index)
		for line, k := range seen {
			require.Equal(t, 1, k, "%s stored %d times", line, k)
		}
	}
	check("logs-shop-2024.03.05", n, map[string]string{"namespace": "Shop", "pod": "web-1"}, day1)
	check("logs-ops-2024.03.05", n, map[string]string{"namespace": "ops"}, day1)
	check("logs-shop-2024.03.06", n, map[string]string{"namespace": "Shop", "pod": "web-1"}, day2)

	docs := z.WaitDocs(t, "logs-shop-2024.03.05", "", n, 30*time.Second)
	require.Equal(t, map[string]string{"trace_id": "abc"}, docs[0].Metadata)
}
