package promrelabel

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// decode decodes YAML strictly into fresh Arguments (with defaults), as the loader does.
func decode(t testing.TB, text string) *Arguments {
	return pipelinetest.DecodeArgs[*Arguments](t, Registration, text)
}

// valid decodes and validates, as the loader does before New and Update.
func valid(t testing.TB, text string) *Arguments {
	t.Helper()
	a := decode(t, text)
	require.NoError(t, a.Validate())
	return a
}

func TestValidate(t *testing.T) {
	require.Equal(t, DefaultMaxCacheSize, Registration.Args().(*Arguments).MaxCacheSize)
	tests := []struct {
		name   string
		yaml   string
		fields []string
	}{
		{name: "valid", yaml: "forward_to: [prometheus.remote_write/x]\nrules: [{source_labels: [__name__], regex: go_.*, action: drop}]"},
		{name: "cache off", yaml: "forward_to: [a/b]\nmax_cache_size: 0"},
		{name: "no forward_to", yaml: "rules: []", fields: []string{"forward_to"}},
		{name: "negative cache", yaml: "forward_to: [a/b]\nmax_cache_size: -1", fields: []string{"max_cache_size"}},
		{name: "bad rule", yaml: "forward_to: [a/b]\nrules: [{action: keep, regex: x}, {action: uppercase}]",
			fields: []string{"rules[1].target_label"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := decode(t, tc.yaml).Validate()
			if len(tc.fields) == 0 {
				require.NoError(t, err)
				return
			}
			require.Equal(t, tc.fields, pipelinetest.FieldsOf(err))
		})
	}
}

// refSink is a downstream appendable that hands out one reference per label set and
// records the reference it was given with each sample.
type refSink struct {
	mu      sync.Mutex
	refs    map[string]storage.SeriesRef
	samples []refSample
}

type refSample struct {
	in  storage.SeriesRef // the reference passed in
	out storage.SeriesRef // the reference returned
	l   string
	v   float64
}

func newRefSink() *refSink { return &refSink{refs: map[string]storage.SeriesRef{}} }

func (s *refSink) Appender(context.Context) storage.Appender { return &refAppender{sink: s} }

type refAppender struct {
	storage.Appender // not implemented: panics if a test reaches it
	sink             *refSink
}

func (a *refAppender) Append(ref storage.SeriesRef, l labels.Labels, _ int64, v float64) (storage.SeriesRef, error) {
	s := a.sink
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.refs[l.String()]
	if !ok {
		r = storage.SeriesRef(len(s.refs) + 1)
		s.refs[l.String()] = r
	}
	s.samples = append(s.samples, refSample{in: ref, out: r, l: l.String(), v: v})
	return r, nil
}

func (a *refAppender) Commit() error { return nil }

func (s *refSink) take() []refSample {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.samples
	s.samples = nil
	return out
}

// sinksHost is a pipeline.Host whose Appendable for a list of ids is the sink of its first
// id, so tests can tell forward_to targets apart.
type sinksHost struct {
	*pipelinetest.Host
	sinks map[string]storage.Appendable
}

func (h *sinksHost) Appendable(ids []string) pipeline.Appendable { return h.sinks[ids[0]] }

func newComponent(t testing.TB, args *Arguments, sinks map[string]storage.Appendable) (*Component, pipeline.Options) {
	t.Helper()
	opts := pipelinetest.Options(t, "prometheus.relabel/test", pipelinetest.NewHost())
	opts.Host = &sinksHost{Host: pipelinetest.NewHost(), sinks: sinks}
	require.NoError(t, args.Validate())
	c, err := New(opts, args)
	require.NoError(t, err)
	return c, opts
}

func appendAll(t testing.TB, app storage.Appendable, series ...labels.Labels) []storage.SeriesRef {
	t.Helper()
	a := app.Appender(context.Background())
	var refs []storage.SeriesRef
	for i, l := range series {
		r, err := a.Append(0, l, 1000, float64(i))
		require.NoError(t, err)
		refs = append(refs, r)
	}
	require.NoError(t, a.Commit())
	return refs
}

func TestRelabel(t *testing.T) {
	in := []labels.Labels{
		labels.FromStrings("__name__", "go_goroutines", "job", "a", "instance", "h:1"),
		labels.FromStrings("__name__", "node_load1", "job", "a", "instance", "h:1", "__tmp_x", "1"),
		labels.FromStrings("__name__", "node_load5", "job", "b", "instance", "h:2"),
	}
	tests := []struct {
		name, rules string
		cache       int
		want        []string
	}{
		{name: "no rules", rules: "[]", want: []string{in[0].String(), in[1].String(), in[2].String()}},
		{name: "drop by regex", rules: "[{source_labels: [__name__], regex: go_.*, action: drop}]",
			want: []string{in[1].String(), in[2].String()}},
		{name: "keep by regex", rules: "[{source_labels: [job], regex: b, action: keep}]",
			want: []string{in[2].String()}},
		{name: "replace", rules: "[{source_labels: [instance], regex: '(.*):.*', target_label: host}]",
			want: []string{
				`{__name__="go_goroutines", host="h", instance="h:1", job="a"}`,
				`{__name__="node_load1", __tmp_x="1", host="h", instance="h:1", job="a"}`,
				`{__name__="node_load5", host="h", instance="h:2", job="b"}`,
			}},
		{name: "labelmap and labeldrop", rules: "[{action: labelmap, regex: __tmp_(.*)}, {action: labeldrop, regex: __tmp_.*}]",
			want: []string{in[0].String(), `{__name__="node_load1", instance="h:1", job="a", x="1"}`, in[2].String()}},
		{name: "everything removed is dropped", rules: "[{action: labeldrop, regex: .*}]"},
	}
	for _, tc := range tests {
		for _, cache := range []int{0, DefaultMaxCacheSize} {
			t.Run(fmt.Sprintf("%s/cache=%d", tc.name, cache), func(t *testing.T) {
				sink := newRefSink()
				args := decode(t, fmt.Sprintf("forward_to: [x/y]\nmax_cache_size: %d\nrules: %s", cache, tc.rules))
				c, _ := newComponent(t, args, map[string]storage.Appendable{"x/y": sink})
				for range 2 { // the second round is served from the cache, when there is one
					appendAll(t, c, in...)
					var got []string
					for _, s := range sink.take() {
						got = append(got, s.l)
					}
					require.Equal(t, tc.want, got)
				}
			})
		}
	}
}

func TestRefsAndMetrics(t *testing.T) {
	sink, other := newRefSink(), newRefSink()
	args := decode(t, "forward_to: [x/y]\nrules: [{source_labels: [__name__], regex: drop_.*, action: drop}, {action: labeldrop, regex: pod}]")
	c, opts := newComponent(t, args, map[string]storage.Appendable{"x/y": sink, "x/z": other})

	a1 := labels.FromStrings("__name__", "m", "pod", "p1")
	a2 := labels.FromStrings("__name__", "m", "pod", "p2") // relabels to the same series as a1
	b := labels.FromStrings("__name__", "n")
	d := labels.FromStrings("__name__", "drop_me")

	refs := appendAll(t, c, a1, a2, b, d)
	require.Equal(t, []storage.SeriesRef{1, 1, 2, 0}, refs, "downstream refs returned; 0 for dropped")
	got := sink.take()
	require.Equal(t, storage.SeriesRef(0), got[0].in, "first sight: no ref known")
	require.Equal(t, storage.SeriesRef(0), got[1].in, "a2 has its own cache entry")

	// Second scrape: the cache hands the learned downstream refs back.
	refs = appendAll(t, c, a1, a2, b, d)
	require.Equal(t, []storage.SeriesRef{1, 1, 2, 0}, refs)
	for _, s := range sink.take() {
		require.Equal(t, s.out, s.in, "cached ref passed downstream for %s", s.l)
	}

	reg := opts.Registerer.(*prometheus.Registry)
	require.NoError(t, testutil.GatherAndCompare(reg, bytes.NewBufferString(`
# HELP sonde_prometheus_relabel_cache_entries Relabelling results currently cached.
# TYPE sonde_prometheus_relabel_cache_entries gauge
sonde_prometheus_relabel_cache_entries 4
# HELP sonde_prometheus_relabel_cache_hits_total Relabelling results found in the cache.
# TYPE sonde_prometheus_relabel_cache_hits_total counter
sonde_prometheus_relabel_cache_hits_total 4
# HELP sonde_prometheus_relabel_cache_misses_total Relabelling results computed because they were not cached.
# TYPE sonde_prometheus_relabel_cache_misses_total counter
sonde_prometheus_relabel_cache_misses_total 4
# HELP sonde_prometheus_relabel_samples_dropped_total Samples not forwarded, by reason: rules (the rules dropped the series or removed all its labels).
# TYPE sonde_prometheus_relabel_samples_dropped_total counter
sonde_prometheus_relabel_samples_dropped_total{reason="rules"} 2
# HELP sonde_prometheus_relabel_samples_in_total Samples (floats and histograms) received for relabelling.
# TYPE sonde_prometheus_relabel_samples_in_total counter
sonde_prometheus_relabel_samples_in_total 8
# HELP sonde_prometheus_relabel_samples_out_total Samples forwarded after relabelling.
# TYPE sonde_prometheus_relabel_samples_out_total counter
sonde_prometheus_relabel_samples_out_total 6
`)))

	// Update: new rules and a new destination at once; the cache starts empty, so no
	// reference learned from the old destination reaches the new one.
	require.NoError(t, c.Update(valid(t, "forward_to: [x/z]\nrules: [{action: replace, target_label: env, replacement: prod}]")))
	require.Equal(t, float64(0), testutil.ToFloat64(c.metrics.cacheSize))
	appendAll(t, c, a1, b)
	require.Empty(t, sink.take(), "old destination gets nothing after Update")
	got = other.take()
	require.Equal(t, []string{`{__name__="m", env="prod", pod="p1"}`, `{__name__="n", env="prod"}`}, labelStrings(got))
	for _, s := range got {
		require.Equal(t, storage.SeriesRef(0), s.in, "no ref learned from the old destination")
	}
}

func TestUpdateSwapsDestination(t *testing.T) {
	first, second := newRefSink(), newRefSink()
	sinks := map[string]storage.Appendable{"x/a": first, "x/b": second}
	c, _ := newComponent(t, decode(t, "forward_to: [x/a]"), sinks)
	l := labels.FromStrings("__name__", "m")
	appendAll(t, c, l)
	appendAll(t, c, l)
	require.Len(t, first.take(), 2)

	// An appender opened before Update finishes with the old state.
	open := c.Appender(context.Background())
	require.NoError(t, c.Update(valid(t, "forward_to: [x/b]\nrules: [{target_label: env, replacement: prod}]")))
	_, err := open.Append(0, l, 1, 1)
	require.NoError(t, err)
	require.NoError(t, open.Commit())
	require.Equal(t, []string{`{__name__="m"}`}, labelStrings(first.take()))

	appendAll(t, c, l)
	got := second.take()
	require.Equal(t, []string{`{__name__="m", env="prod"}`}, labelStrings(got))
	require.Equal(t, storage.SeriesRef(0), got[0].in, "no ref from the old destination")
}

func labelStrings(ss []refSample) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.l)
	}
	return out
}

func TestCacheBound(t *testing.T) {
	sink := newRefSink()
	c, _ := newComponent(t, decode(t, "forward_to: [x/y]\nmax_cache_size: 2\nrules: [{target_label: a, replacement: b}]"),
		map[string]storage.Appendable{"x/y": sink})
	var series []labels.Labels
	for i := range 5 {
		series = append(series, labels.FromStrings("__name__", fmt.Sprint("m", i)))
	}
	for range 3 {
		appendAll(t, c, series...)
		require.LessOrEqual(t, c.state.Load().cache.len(), 2)
	}
	got := sink.take()
	require.Len(t, got, 15)
	require.Equal(t, `{__name__="m4", a="b"}`, got[14].l)
}

func TestCacheCollision(t *testing.T) {
	c := newCache(10)
	a := labels.FromStrings("a", "1")
	b := labels.FromStrings("b", "2")
	c.add(42, &entry{in: a, out: a})
	require.NotNil(t, c.get(42, a))
	require.Nil(t, c.get(42, b), "same hash, different labels: a miss")
	c.add(42, &entry{in: b, out: b})
	require.Equal(t, 1, c.len())
	require.Nil(t, newCache(0), "0 turns caching off")
}

func TestConcurrentAppenders(t *testing.T) {
	sink := pipelinetest.NewSink()
	c, _ := newComponent(t, decode(t, "forward_to: [x/y]\nmax_cache_size: 50\nrules: [{source_labels: [i], regex: '.*0', action: drop}]"),
		map[string]storage.Appendable{"x/y": sink})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for round := range 20 {
				a := c.Appender(context.Background())
				for i := range 100 {
					_, err := a.Append(0, labels.FromStrings("__name__", "m", "g", fmt.Sprint(g), "i", fmt.Sprint(i)), int64(round), 1)
					if err != nil {
						t.Error(err)
					}
				}
				if err := a.Commit(); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	require.Len(t, sink.Samples(), 4*20*90)
}

func TestLifecycle(t *testing.T) {
	pipelinetest.Lifecycle(t, Registration,
		decode(t, "forward_to: [prometheus.remote_write/a]\nrules: [{action: labeldrop, regex: x}]"),
		decode(t, "forward_to: [prometheus.remote_write/b]\nmax_cache_size: 10"))
}

// metaSink records the labels metadata was reported for.
type metaSink struct {
	mu   sync.Mutex
	meta map[string]metadata.Metadata
}

func (s *metaSink) Appender(context.Context) storage.Appender { return &metaAppender{s: s} }

type metaAppender struct {
	storage.Appender // not implemented: panics if a test reaches it
	s                *metaSink
}

func (a *metaAppender) Append(storage.SeriesRef, labels.Labels, int64, float64) (storage.SeriesRef, error) {
	return 1, nil
}

func (a *metaAppender) UpdateMetadata(ref storage.SeriesRef, l labels.Labels, m metadata.Metadata) (storage.SeriesRef, error) {
	a.s.mu.Lock()
	a.s.meta[l.String()] = m
	a.s.mu.Unlock()
	return ref, nil
}

func (a *metaAppender) Commit() error { return nil }

// TestMetadataFollowsRelabelling: a series' metadata goes downstream with its relabelled
// labels (a renamed metric keeps its type and help), and not for a dropped series.
func TestMetadataFollowsRelabelling(t *testing.T) {
	sink := &metaSink{meta: map[string]metadata.Metadata{}}
	args := decode(t, `forward_to: [x/y]
rules:
  - {source_labels: [__name__], regex: drop_.*, action: drop}
  - {source_labels: [__name__], regex: old_(.*), target_label: __name__, replacement: new_$1}`)
	c, _ := newComponent(t, args, map[string]storage.Appendable{"x/y": sink})
	g := metadata.Metadata{Type: model.MetricTypeGauge, Help: "A gauge.", Unit: "bytes"}
	a := c.Appender(context.Background())
	for _, l := range []labels.Labels{labels.FromStrings("__name__", "old_bytes"), labels.FromStrings("__name__", "drop_bytes")} {
		ref, err := a.Append(0, l, 1000, 1)
		require.NoError(t, err)
		_, err = a.UpdateMetadata(ref, l, g)
		require.NoError(t, err)
	}
	require.NoError(t, a.Commit())
	require.Equal(t, map[string]metadata.Metadata{`{__name__="new_bytes"}`: g}, sink.meta)
}
