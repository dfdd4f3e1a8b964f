package pipelinetest

import (
	"log/slog"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// TestLogBuffer: goroutines log at once; the test reads and counts what they logged, from the
// logger's level up.
func TestLogBuffer(t *testing.T) {
	var logs LogBuffer
	logger := logs.Logger(slog.LevelInfo)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			logger.Info("target down", "n", 1)
			logger.Debug("not logged")
		})
	}
	wg.Wait()
	require.Equal(t, 8, logs.Count("target down"))
	require.Zero(t, logs.Count("not logged"))
	require.Contains(t, logs.String(), "level=INFO msg=\"target down\" n=1\n")
	logs.Logger(slog.LevelDebug).Debug("now logged")
	require.Equal(t, 1, logs.Count("now logged"))
}

// TestMetricValueAndSum: a series is found by the labels it includes; each kind has its value.
func TestMetricValueAndSum(t *testing.T) {
	reg := prometheus.NewRegistry()
	drops := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "drops_total", Help: "h"}, []string{"reason", "shard"})
	queue := prometheus.NewGauge(prometheus.GaugeOpts{Name: "queue", Help: "h"})
	took := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "took_seconds", Help: "h"})
	sizes := prometheus.NewSummary(prometheus.SummaryOpts{Name: "sizes", Help: "h"})
	up := prometheus.NewUntypedFunc(prometheus.UntypedOpts{Name: "up", Help: "h"}, func() float64 { return 1 })
	reg.MustRegister(drops, queue, took, sizes, up)
	drops.WithLabelValues("full", "0").Add(2)
	drops.WithLabelValues("full", "1").Add(3)
	drops.WithLabelValues("old", "0").Add(5)
	queue.Set(7)
	took.Observe(0.1)
	took.Observe(0.2)
	sizes.Observe(1)

	require.Equal(t, 2.0, MetricValue(t, reg, "drops_total", "reason", "full"), "the first matching series")
	require.Equal(t, 3.0, MetricValue(t, reg, "drops_total", "reason", "full", "shard", "1"))
	require.Equal(t, 5.0, MetricSum(t, reg, "drops_total", "reason", "full"))
	require.Equal(t, 10.0, MetricSum(t, reg, "drops_total"))
	require.Zero(t, MetricValue(t, reg, "drops_total", "reason", "none"))
	require.Zero(t, MetricValue(t, reg, "drops_total", "zone", "a"), "a label the series lack does not match")
	require.Zero(t, MetricSum(t, reg, "absent_total"))
	require.Equal(t, 7.0, MetricValue(t, reg, "queue"))
	require.Equal(t, 2.0, MetricValue(t, reg, "took_seconds"), "a histogram's sample count")
	require.Equal(t, 1.0, MetricValue(t, reg, "sizes"), "a summary's sample count")
	require.Equal(t, 1.0, MetricValue(t, reg, "up"))
}
