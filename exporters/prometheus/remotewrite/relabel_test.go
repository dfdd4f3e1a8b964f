package remotewrite

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/backendtest"
	"github.com/sondehq/sonde/exporters/prometheus/remotewrite/remotewritetest"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// TestWriteRelabel: an endpoint's write_relabel_configs decide what it gets, with the
// external labels added first; the other endpoint gets everything as it was; what the rules
// drop is counted, not sent, and does not hold the WAL back.
func TestWriteRelabel(t *testing.T) {
	ra, rb := remotewritetest.NewReceiver(t), remotewritetest.NewReceiver(t)
	args := testEndpoints(t, ra.URL, rb.URL)
	args.ExternalLabels = map[string]string{"cluster": "c1"}
	rules := pipelinetest.DecodeArgs[*Arguments](t, Registration,
		"endpoints: [{url: http://x/w, write_relabel_configs: ["+
			`{source_labels: [__name__, series], regex: 'test_metric;\d', action: keep},`+
			`{source_labels: [series], target_label: id}, {action: labeldrop, regex: series},`+
			`{source_labels: [cluster], regex: c1, action: keep}]}]`)
	require.NoError(t, rules.Validate())
	args.Endpoints[1].WriteRelabelConfigs = rules.Endpoints[0].WriteRelabelConfigs
	in := start(t, t.TempDir(), args, nil)

	const series, steps = 30, 4
	in.appendSamples(t, series, steps, 1000)
	waitSamples(t, ra, series*steps)
	waitSamples(t, rb, 10*steps)
	requireExactly(t, ra, series, steps, "cluster", "c1")
	require.Eventually(t, func() bool { return testutil.ToFloat64(in.em("b").samplesFiltered) == (series-10)*steps }, 10*time.Second, time.Millisecond)
	require.Zero(t, testutil.ToFloat64(in.em("a").samplesFiltered))
	got := rb.Series()
	require.Len(t, got, 10)
	for i := range 10 {
		ls := labels.FromStrings("__name__", "test_metric", "cluster", "c1", "id", fmt.Sprint(i), "job", "test")
		require.Len(t, got[ls.String()], steps, "series %d relabelled", i)
	}
	require.Empty(t, rb.Problems())
	// What b does not get is done for it: its marker goes past it.
	waitMarkerCovers(t, in)

	// Without the external label, the last rule drops everything for b.
	next := testEndpoints(t, ra.URL, rb.URL)
	next.Endpoints[1].WriteRelabelConfigs = args.Endpoints[1].WriteRelabelConfigs
	require.NoError(t, in.c.Update(next))
	require.Eventually(t, func() bool { return strings.Contains(in.logs.String(), `sender restarted" endpoint=b`) }, 10*time.Second, time.Millisecond)
	in.appendSamples(t, series, 1, 10000)
	waitSamples(t, ra, series*(steps+1))
	require.Eventually(t, func() bool { return testutil.ToFloat64(in.em("b").samplesFiltered) == (series-10)*steps+series }, 10*time.Second, time.Millisecond, "filtered %v", testutil.ToFloat64(in.em("b").samplesFiltered))
	require.Equal(t, 10*steps, rb.SampleCount())
}

func TestWriteRelabelValidation(t *testing.T) {
	a := pipelinetest.DecodeArgs[*Arguments](t, Registration,
		"endpoints: [{url: http://a/w}, {url: http://b/w, write_relabel_configs: [{action: replace, source_labels: [a], regex: x}]}]")
	require.Equal(t, []string{"endpoints[1].write_relabel_configs[0].target_label"}, pipelinetest.FieldsOf(a.Validate()))
}

// TestWriteRelabelAgainstPrometheus: with a real Prometheus behind each endpoint, the one
// with write_relabel_configs holds exactly the series the rules keep, relabelled; the other
// holds every series as appended.
func TestWriteRelabelAgainstPrometheus(t *testing.T) {
	pa, pb := backendtest.StartPrometheus(t), backendtest.StartPrometheus(t)
	args := testEndpoints(t, pa.WriteURL(), pb.WriteURL())
	args.ExternalLabels = map[string]string{"cluster": "c1"}
	rules := pipelinetest.DecodeArgs[*Arguments](t, Registration,
		"endpoints: [{url: http://x/w, write_relabel_configs: ["+
			`{source_labels: [__name__, series], regex: 'test_metric;\d', action: keep},`+
			`{source_labels: [series], target_label: id}, {action: labeldrop, regex: series}]}]`)
	require.NoError(t, rules.Validate())
	args.Endpoints[1].WriteRelabelConfigs = rules.Endpoints[0].WriteRelabelConfigs
	in := start(t, t.TempDir(), args, nil)

	const series, steps = 30, 20
	base := time.Now().Add(-5 * time.Minute).UnixMilli()
	in.appendSamples(t, series, steps, base)
	query := func(p *backendtest.Prometheus, q string) []backendtest.Series {
		res, err := p.Query(context.Background(), q)
		if err != nil {
			return nil
		}
		return res
	}
	require.Eventually(t, func() bool {
		return len(query(pa, `count_over_time(test_metric{cluster="c1"}[1h]) == 20`)) == series
	}, 30*time.Second, 100*time.Millisecond, "a holds every series")
	require.Eventually(t, func() bool {
		return len(query(pb, `count_over_time(test_metric{cluster="c1",id=~"\\d",series=""}[1h]) == 20`)) == 10
	}, 30*time.Second, 100*time.Millisecond, "b holds the 10 series kept, relabelled")
	require.Empty(t, query(pb, `test_metric{series!=""}`), "no series label left in b")
	require.Len(t, query(pb, `count_over_time({__name__=~".+"}[1h])`), 10, "nothing else in b")
	require.Equal(t, float64((series-10)*steps), testutil.ToFloat64(in.em("b").samplesFiltered))
}
