package nodetest

import (
	"context"
	"testing"
	"time"

	"github.com/sondehq/sonde/exporters/backendtest"
)

// testSummary logs what the run left in each backend: the figures of the closing note and
// of docs/kubernetes.md come from here.
func (b *bed) testSummary(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, q := range []string{
		`count({__name__=~".+"})`,
		`count by (job) ({__name__=~".+"})`,
		`sum(sonde_component_restarts_total)`,
	} {
		res, err := b.prom.Query(ctx, q)
		if err != nil {
			t.Errorf("%s: %v", q, err)
			continue
		}
		for _, s := range res {
			t.Logf("Prometheus %s %v: %.0f", q, s.Metric, s.Float())
		}
	}
	// Loki answers metric queries in Prometheus' format.
	q := `sum by (namespace, container, stream) (count_over_time({namespace=~".+"}[2h]))`
	res, err := backendtest.QueryPrometheus(ctx, b.loki.URL()+"/loki", q)
	if err != nil {
		t.Errorf("Loki %s: %v", q, err)
	}
	for _, s := range res {
		t.Logf("Loki lines %v: %.0f", s.Metric, s.Float())
	}
	ids, err := b.tempo.Search(ctx, `{resource.service.name="demo"}`, b.start, time.Now(), 100000)
	if err != nil {
		t.Errorf("Tempo: %v", err)
	}
	t.Logf("Tempo: %d traces of service demo", len(ids))
}
