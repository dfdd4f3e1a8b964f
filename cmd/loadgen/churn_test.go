package main

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestChurn: every period the given fraction of series is replaced by new ones (a new
// churn label value), rotating through the target; the number of series stays the same.
func TestChurn(t *testing.T) {
	const series = 1000
	tgt := newTarget(series, 3)
	now := time.Unix(1000, 0)
	tgt.churn = &churn{fraction: 0.01, every: time.Minute, start: now, now: func() time.Time { return now }}
	srv := httptest.NewServer(tgt)
	defer srv.Close()

	first, _ := scrape(t, srv.URL)
	require.Len(t, first, series)
	second, _ := scrape(t, srv.URL)
	require.ElementsMatch(t, keys(first), keys(second), "no churn within the first period")

	now = now.Add(2*time.Minute + time.Second)
	third, _ := scrape(t, srv.URL)
	require.Len(t, third, series, "as many series as before")
	gone, churned := 0, map[string]int{}
	for k := range first {
		if _, ok := third[k]; !ok {
			gone++
		}
	}
	for k := range third {
		if i := strings.Index(k, "churn="); i >= 0 {
			churned[k[i+6:i+7]]++
		}
	}
	require.Equal(t, 20, gone, "two periods of 1%% of %d series replaced", series)
	require.Equal(t, map[string]int{"1": 10, "2": 10}, churned)
}

func keys(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
