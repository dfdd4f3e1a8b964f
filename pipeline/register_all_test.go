package pipeline_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline"
)

// TestRegisterAll: every collector is registered even when one fails, and the failures come
// back joined; a nil registerer registers nothing.
func TestRegisterAll(t *testing.T) {
	counter := func(name string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: name})
	}
	reg := prometheus.NewRegistry()
	taken := counter("taken_total")
	require.NoError(t, pipeline.RegisterAll(reg, taken))

	a, b := counter("a_total"), counter("b_total")
	err := pipeline.RegisterAll(reg, a, counter("taken_total"), b, counter("taken_total"))
	var already prometheus.AlreadyRegisteredError
	require.ErrorAs(t, err, &already)
	require.Same(t, taken, already.ExistingCollector)
	require.Len(t, err.(interface{ Unwrap() []error }).Unwrap(), 2, "both failures, joined")
	a.Inc()
	b.Add(2)
	require.Equal(t, 3, testutil.CollectAndCount(reg), "a and b registered around the failures")
	require.Equal(t, 2.0, testutil.ToFloat64(b))

	require.NoError(t, pipeline.RegisterAll(reg))
	require.NoError(t, pipeline.RegisterAll(nil, counter("a_total")), "nil registerer: nothing to do")
}
