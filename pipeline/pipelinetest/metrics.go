package pipelinetest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// MetricValue returns the value of the first series of the metric name in g (a component's
// registry) whose labels include labels, given as name, value pairs; 0 when there is none.
// A series' value is a counter's, a gauge's or an untyped metric's value, or a histogram's or
// a summary's sample count.
func MetricValue(t testing.TB, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	vs := metricValues(t, g, name, labels)
	if len(vs) == 0 {
		return 0
	}
	return vs[0]
}

// MetricSum returns the sum of the values (see MetricValue) of every series of the metric
// name in g whose labels include labels; 0 when there is none.
func MetricSum(t testing.TB, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	sum := 0.0
	for _, v := range metricValues(t, g, name, labels) {
		sum += v
	}
	return sum
}

// metricValues returns the values of the matching series, in the order Gather returns them.
func metricValues(t testing.TB, g prometheus.Gatherer, name string, labels []string) []float64 {
	t.Helper()
	if len(labels)%2 != 0 {
		t.Fatalf("labels %q: want name, value pairs", labels)
	}
	fams, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var out []float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if !hasLabels(m, labels) {
				continue
			}
			switch {
			case m.Counter != nil:
				out = append(out, m.GetCounter().GetValue())
			case m.Gauge != nil:
				out = append(out, m.GetGauge().GetValue())
			case m.Untyped != nil:
				out = append(out, m.GetUntyped().GetValue())
			case m.Histogram != nil:
				out = append(out, float64(m.GetHistogram().GetSampleCount()))
			case m.Summary != nil:
				out = append(out, float64(m.GetSummary().GetSampleCount()))
			}
		}
	}
	return out
}

// hasLabels says whether m has every name, value pair of labels.
func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
