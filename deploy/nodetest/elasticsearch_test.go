package nodetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sondehq/sonde/exporters/elasticsearch/write/estest"
	"github.com/sondehq/sonde/exporters/loki/write/lokitest"
)

// testElasticsearch: with an elasticsearch.write added by the chart's config overrides and
// loki.source.file forwarding to it and to Loki, the lines a pod writes reach Loki and an
// Elasticsearch-API backend (ZincSearch on the host) exactly once each, labelled alike. That
// positions advance only once both sinks acknowledged is checked where faults can be
// injected (exporters/elasticsearch/write, TestFanoutToLokiAndElasticsearch). Then back to Loki
// alone.
func (b *bed) testElasticsearch(t *testing.T) {
	z := estest.Start(t)
	b.upgrade(t, map[string]any{"config": map[string]any{"overrides": map[string]any{
		"elasticsearch.write/es": map[string]any{
			"endpoint": map[string]any{"url": z.ESURL(),
				"basic_auth": map[string]any{"username": estest.User, "password": estest.Password}},
			"index": "pods-{pod}",
		},
		"loki.source.file/pods": map[string]any{"forward_to": []string{"loki.write/default", "elasticsearch.write/es"}},
	}}})
	defer b.upgrade(t, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const name, lines = "es-burst", 2000
	pods := b.node.Client.CoreV1().Pods("shop")
	_, err := pods.Create(ctx, BurstPod(name, lines), metav1.CreateOptions{})
	require.NoError(t, err)
	defer func() { _ = pods.Delete(context.Background(), name, metav1.DeleteOptions{}) }()
	Eventually(t, 2*time.Minute, 2*time.Second, name+" completed", func(ctx context.Context) error {
		p, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.Phase != corev1.PodSucceeded {
			return fmt.Errorf("phase %s", p.Status.Phase)
		}
		return nil
	})
	p, err := pods.Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	loki := b.waitLogs(t, p, "burst", 0, true)

	var es LogReport
	Eventually(t, 2*time.Minute, 2*time.Second, "the lines in ZincSearch", func(ctx context.Context) error {
		docs, err := z.Search(ctx, "pods-"+name, "", 10000)
		if err != nil {
			return err
		}
		es = CheckLogs(docStreams(docs), name, "burst")
		if probs := es.Problems(0); len(probs) > 0 || len(es.Written) == 0 {
			return fmt.Errorf("%d documents: %s (totals line: %v)", len(docs), strings.Join(probs, "; "), es.Written)
		}
		return nil
	})
	require.Equal(t, loki.Lines, es.Lines, "the same lines in both")
	t.Logf("%s: %d lines in Loki and %d documents in ZincSearch, none missing or twice in either", name, loki.Lines, es.Lines)
}

// docStreams groups documents by their labels, as Loki streams, for CheckLogs.
func docStreams(docs []estest.Doc) []lokitest.Stream {
	byKey := map[string]int{}
	var out []lokitest.Stream
	for _, d := range docs {
		k := labelKey(d.Labels)
		i, ok := byKey[k]
		if !ok {
			i = len(out)
			byKey[k] = i
			out = append(out, lokitest.Stream{Labels: d.Labels})
		}
		out[i].Entries = append(out[i].Entries, lokitest.Entry{Timestamp: d.Timestamp, Line: d.Message})
	}
	return out
}
