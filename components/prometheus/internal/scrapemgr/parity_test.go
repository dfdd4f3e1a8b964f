package scrapemgr_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/relabel"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sondehq/sonde/components/prometheus/internal/scrapemgr"
)

const (
	parityInterval = 200 * time.Millisecond
	parityJob      = "parity"
	omType         = "application/openmetrics-text; version=1.0.0; charset=utf-8"
	protoType      = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
)

// parityCase is one comparison: the same targets (one server per target and side, all
// serving the same script) scraped with the same config by Prometheus' scrape manager and
// by scrapemgr.
type parityCase struct {
	name    string
	targets map[string][]step // instance label → script
	mod     func(*config.ScrapeConfig)
	startTS bool
	// groupLabels are added to the target group (custom labels, __param_*).
	groupLabels model.LabelSet
	// remove is an instance dropped from the target set once every target was scraped
	// `removeAfter` times; its series must then get end-of-run staleness markers.
	remove      string
	removeAfter int
	// timestamps: exposed timestamps are compared (honor_timestamps).
	timestamps bool
	// want are series (labels.String()) that Prometheus' recording must hold, so that the
	// case checks something even if both sides append nothing; wantStale must have a
	// staleness marker, wantNoStale must not; wantNoSeries must not appear.
	want, wantStale, wantNoStale, wantNoSeries []string
	// wantKinds: the series must have a point of that kind (st-zero, exemplar, ...).
	wantKinds map[string]string
	// reapply changes the config, applied again once every target was scraped
	// reapplyAfter times (Apply with the same job: the loops restart in place).
	reapply      func(*config.ScrapeConfig)
	reapplyAfter int
}

func nativeHistograms(sc *config.ScrapeConfig) {
	on := true
	sc.ScrapeNativeHistograms = &on
	sc.ScrapeProtocols = config.DefaultProtoFirstScrapeProtocols
}

func classicBody(n int) string {
	v := strconv.Itoa(n)
	return "# HELP h A histogram.\n# TYPE h histogram\n" +
		`h_bucket{le="0.1"} ` + v + "\n" + `h_bucket{le="1"} ` + v + "\n" + `h_bucket{le="+Inf"} ` + v + "\n" +
		"h_sum " + v + ".5\nh_count " + v + "\n" +
		"# HELP s A summary.\n# TYPE s summary\n" +
		`s{quantile="0.5"} ` + v + "\n" + `s{quantile="0.9"} ` + v + "\n" + "s_sum " + v + "\ns_count " + v + "\n"
}

func textStep(body string) step { return step{body: body} }

func TestParity(t *testing.T) {
	t.Parallel()
	for _, c := range parityCases(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			runParity(t, c)
		})
	}
}

func parityCases(t *testing.T) []parityCase {
	counterBody := func(x, y, g string, withX bool) string {
		var b strings.Builder
		b.WriteString("# HELP c_total A counter.\n# TYPE c_total counter\n")
		if withX {
			b.WriteString(`c_total{a="x"} ` + x + "\n")
		}
		b.WriteString(`c_total{a="y"} ` + y + "\n")
		b.WriteString("# HELP g A gauge.\n# TYPE g gauge\n# UNIT g bytes\ng " + g + "\n")
		return b.String()
	}
	return []parityCase{
		{
			name: "text/disappearing-series",
			targets: map[string][]step{"t0": {
				textStep(counterBody("1", "5", "3", true)),
				textStep(counterBody("2", "6", "4", true)),
				textStep(counterBody("", "7", "5", false)),
				textStep(counterBody("", "8", "5", false)),
				textStep(counterBody("10", "9", "6", true)),
			}},
			want: []string{
				`{__name__="c_total", a="x", instance="t0", job="parity"}`,
				`{__name__="g", instance="t0", job="parity"}`,
			},
			wantStale:   []string{`{__name__="c_total", a="x", instance="t0", job="parity"}`},
			wantNoStale: []string{`{__name__="c_total", a="y", instance="t0", job="parity"}`},
		},
		{
			name: "text/failing-scrape",
			targets: map[string][]step{"t0": {
				textStep("# TYPE a counter\na 1\nb 2\n"),
				textStep("# TYPE a counter\na 2\nb 3\n"),
				{body: "boom\n", status: 500},
				textStep("# TYPE a counter\na 4\nb 5\n"),
			}},
			want: []string{`{__name__="a", instance="t0", job="parity"}`},
			wantStale: []string{
				`{__name__="a", instance="t0", job="parity"}`,
				`{__name__="b", instance="t0", job="parity"}`,
			},
		},
		{
			name:    "honor_labels/true",
			targets: map[string][]step{"t0": {textStep(`m{job="other",instance="scraped",k="v"} 1` + "\n")}},
			mod:     func(sc *config.ScrapeConfig) { sc.HonorLabels = true },
			want:    []string{`{__name__="m", instance="scraped", job="other", k="v"}`},
		},
		{
			name:    "honor_labels/false",
			targets: map[string][]step{"t0": {textStep(`m{job="other",instance="scraped",k="v"} 1` + "\n")}},
			want:    []string{`{__name__="m", exported_instance="scraped", exported_job="other", instance="t0", job="parity", k="v"}`},
		},
		{
			name: "honor_timestamps/true",
			targets: map[string][]step{"t0": {
				textStep("m 1 1700000000000\nn 1\n"),
				textStep("m 2 1700000001000\nn 2\n"),
				textStep("n 3\n"),
				textStep("m 4 1700000003000\nn 4\n"),
			}},
			timestamps: true,
			want:       []string{`{__name__="m", instance="t0", job="parity"}`},
			// Without track_timestamps_staleness a series with an explicit timestamp gets no
			// staleness marker.
			wantNoStale: []string{`{__name__="m", instance="t0", job="parity"}`},
		},
		{
			name: "honor_timestamps/false",
			targets: map[string][]step{"t0": {
				textStep("m 1 1700000000000\n"),
				textStep("m 2 1700000001000\n"),
			}},
			mod:  func(sc *config.ScrapeConfig) { sc.HonorTimestamps = false },
			want: []string{`{__name__="m", instance="t0", job="parity"}`},
		},
		{
			name: "honor_timestamps/track_timestamps_staleness",
			targets: map[string][]step{"t0": {
				textStep("m 1 1700000000000\nn 1\n"),
				textStep("m 2 1700000001000\nn 2\n"),
				textStep("n 3\n"),
				textStep("m 4 1700000003000\nn 4\n"),
			}},
			mod:        func(sc *config.ScrapeConfig) { sc.TrackTimestampsStaleness = true },
			timestamps: true,
			want:       []string{`{__name__="m", instance="t0", job="parity"}`},
			wantStale:  []string{`{__name__="m", instance="t0", job="parity"}`},
		},
		{
			name:      "openmetrics/start-timestamps-off",
			targets:   map[string][]step{"t0": openMetricsScript()},
			wantKinds: map[string]string{`{__name__="foo_total", instance="t0", job="parity"}`: kindExemplar},
			want: []string{
				`{__name__="foo_total", instance="t0", job="parity"}`,
				`{__name__="foo_created", instance="t0", job="parity"}`,
			},
		},
		{
			name:         "openmetrics/start-timestamps-on",
			targets:      map[string][]step{"t0": openMetricsScript()},
			startTS:      true,
			wantKinds:    map[string]string{`{__name__="foo_total", instance="t0", job="parity"}`: kindSTZero},
			want:         []string{`{__name__="foo_total", instance="t0", job="parity"}`},
			wantNoSeries: []string{`{__name__="foo_created", instance="t0", job="parity"}`},
		},
		{
			name:    "protobuf/native-histogram",
			targets: map[string][]step{"t0": protobufScript(t)},
			mod:     nativeHistograms,
			want: []string{
				`{__name__="nh", instance="t0", job="parity"}`,
				`{__name__="pg", instance="t0", job="parity", k="v"}`,
				`{__name__="pc_total", instance="t0", job="parity"}`,
			},
			wantStale: []string{`{__name__="nh", instance="t0", job="parity"}`},
		},
		{
			name:      "protobuf/native-histogram/start-timestamps-on",
			targets:   map[string][]step{"t0": protobufScript(t)},
			mod:       nativeHistograms,
			startTS:   true,
			want:      []string{`{__name__="nh", instance="t0", job="parity"}`},
			wantStale: []string{`{__name__="nh", instance="t0", job="parity"}`},
			wantKinds: map[string]string{
				`{__name__="nh", instance="t0", job="parity"}`:       kindSTZero,
				`{__name__="pc_total", instance="t0", job="parity"}`: kindSTZero,
			},
		},
		{
			name: "text/classic-histogram-summary",
			targets: map[string][]step{"t0": {
				textStep(classicBody(1)),
				textStep(classicBody(2)),
			}},
			want: []string{
				`{__name__="h_bucket", instance="t0", job="parity", le="+Inf"}`,
				`{__name__="h_count", instance="t0", job="parity"}`,
				`{__name__="s", instance="t0", job="parity", quantile="0.5"}`,
				`{__name__="s_sum", instance="t0", job="parity"}`,
			},
		},
		{
			name: "text/special-values",
			targets: map[string][]step{"t0": {
				textStep("nan NaN\npinf +Inf\nninf -Inf\ndup 1\ndup 2\n" + `esc{l="a\"b\\c\n"} 1` + "\n" + `{"utf8.name","l"="v"} 1` + "\n"),
			}},
			want: []string{
				`{__name__="nan", instance="t0", job="parity"}`,
				`{__name__="dup", instance="t0", job="parity"}`,
				`{__name__="utf8.name", instance="t0", job="parity", l="v"}`,
			},
		},
		{
			name: "gzip",
			targets: map[string][]step{"t0": {
				{body: "# TYPE a counter\na 1\n", gzip: true},
				{body: "# TYPE a counter\na 2\n" + strings.Repeat("# padding padding padding padding\n", 20), gzip: true},
				{body: "# TYPE a counter\na 3\n", gzip: true},
			}},
			// The limit applies to the body as decompressed: the second step fails.
			mod:       func(sc *config.ScrapeConfig) { sc.BodySizeLimit = 200 },
			want:      []string{`{__name__="a", instance="t0", job="parity"}`},
			wantStale: []string{`{__name__="a", instance="t0", job="parity"}`},
		},
		{
			name:    "content-type/missing-with-fallback",
			targets: map[string][]step{"t0": {{body: "a 1\n", ctype: "none"}, {body: "a 2\n", ctype: "none"}}},
			mod:     func(sc *config.ScrapeConfig) { sc.ScrapeFallbackProtocol = config.PrometheusText0_0_4 },
			want:    []string{`{__name__="a", instance="t0", job="parity"}`},
		},
		{
			name: "content-type/missing-no-fallback",
			targets: map[string][]step{"t0": {
				{body: "a 1\n"},
				{body: "a 2\n", ctype: "none"},
				{body: "a 3\n", ctype: "text/html"},
				{body: "a 4\n"},
			}},
			want: []string{`{__name__="a", instance="t0", job="parity"}`},
		},
		{
			name: "reapply/metric_relabel_configs-changed",
			targets: map[string][]step{"t0": {
				textStep("a 1\nb 1\n"),
			}},
			reapplyAfter: 2,
			reapply: func(sc *config.ScrapeConfig) {
				sc.MetricRelabelConfigs = []*relabel.Config{
					relabelConfig(relabel.Drop, []model.LabelName{model.MetricNameLabel}, "b", "", ""),
				}
			},
			// Prometheus restarts the loop: the old one writes end-of-run staleness markers
			// for every series (a too, which the new loop then scrapes again) before the new
			// one starts. Compared with repeats collapsed: a is 1, stale, 1 on both sides.
			want:      []string{`{__name__="a", instance="t0", job="parity"}`, `{__name__="b", instance="t0", job="parity"}`},
			wantStale: []string{`{__name__="b", instance="t0", job="parity"}`},
		},
		{
			name: "limits/sample_limit",
			targets: map[string][]step{"t0": {
				textStep("a 1\nb 1\n"),
				textStep("a 2\nb 2\nc 2\nd 2\n"),
				textStep("a 3\nb 3\n"),
			}},
			mod: func(sc *config.ScrapeConfig) { sc.SampleLimit = 3 },
			// Prometheus v0.316: the failed scrape is rolled back and followed by an empty
			// append, but the series its parse got through (a, b, c) count as seen in it, so
			// a and b get no staleness marker (they resume at the next scrape) and c, never
			// committed, gets one at the next scrape. d was never reached.
			want:         []string{`{__name__="a", instance="t0", job="parity"}`},
			wantStale:    []string{`{__name__="c", instance="t0", job="parity"}`},
			wantNoStale:  []string{`{__name__="a", instance="t0", job="parity"}`},
			wantNoSeries: []string{`{__name__="d", instance="t0", job="parity"}`},
		},
		{
			name: "limits/label_limit",
			targets: map[string][]step{"t0": {
				textStep(`a{x="1"} 1` + "\n"),
				textStep(`a{x="1"} 2` + "\n" + `b{x="1",y="2",z="3"} 2` + "\n"),
				textStep(`a{x="1"} 3` + "\n"),
			}},
			mod: func(sc *config.ScrapeConfig) { sc.LabelLimit = 4 },
			// As for sample_limit: a counts as seen in the failed scrape, so no marker.
			want:         []string{`{__name__="a", instance="t0", job="parity", x="1"}`},
			wantNoStale:  []string{`{__name__="a", instance="t0", job="parity", x="1"}`},
			wantNoSeries: []string{`{__name__="b", instance="t0", job="parity", x="1", y="2", z="3"}`},
		},
		{
			name: "limits/body_size_limit",
			targets: map[string][]step{"t0": {
				textStep("a 1\n"),
				textStep("a 2\n" + strings.Repeat("# padding padding padding padding\n", 20)),
				textStep("a 3\n"),
			}},
			mod:       func(sc *config.ScrapeConfig) { sc.BodySizeLimit = 200 },
			want:      []string{`{__name__="a", instance="t0", job="parity"}`},
			wantStale: []string{`{__name__="a", instance="t0", job="parity"}`},
		},
		{
			name: "metric_relabel_configs",
			targets: map[string][]step{"t0": {
				textStep(`keep{a="1"} 1` + "\n" + `drop_me 1` + "\n" + `rename{a="2"} 1` + "\n"),
				textStep(`keep{a="1"} 2` + "\n" + `drop_me 2` + "\n" + `rename{a="3"} 2` + "\n"),
			}},
			mod: func(sc *config.ScrapeConfig) {
				sc.MetricRelabelConfigs = []*relabel.Config{
					relabelConfig(relabel.Drop, []model.LabelName{model.MetricNameLabel}, "drop_me", "", ""),
					relabelConfig(relabel.Replace, []model.LabelName{model.MetricNameLabel, "a"}, "rename;(.*)", "b", "$1"),
					relabelConfig(relabel.LabelDrop, nil, "a", "", ""),
				}
			},
			want: []string{
				`{__name__="keep", instance="t0", job="parity"}`,
				`{__name__="rename", b="2", instance="t0", job="parity"}`,
			},
			wantNoSeries: []string{`{__name__="drop_me", instance="t0", job="parity"}`},
		},
		{
			name: "target-removed",
			targets: map[string][]step{
				"t0": {textStep("a 1\n"), textStep("a 2\n")},
				"t1": {textStep("b 1\n")},
			},
			remove:      "t1",
			removeAfter: 2,
			want:        []string{`{__name__="b", instance="t1", job="parity"}`},
			wantStale: []string{
				`{__name__="b", instance="t1", job="parity"}`,
				`{__name__="up", instance="t1", job="parity"}`,
			},
			wantNoStale: []string{`{__name__="a", instance="t0", job="parity"}`},
		},
		{
			name:    "params-path-target-labels",
			targets: map[string][]step{"t0": {textStep(`req{path="$path",query="$query"} 1` + "\n")}},
			mod: func(sc *config.ScrapeConfig) {
				sc.MetricsPath = "/custom/path"
				sc.Params = url.Values{"x": {"1"}}
			},
			groupLabels: model.LabelSet{"__param_y": "2", "env": "prod"},
			want:        []string{`{__name__="req", env="prod", instance="t0", job="parity", path="/custom/path", query="x=1&y=2"}`},
		},
	}
}

func relabelConfig(action relabel.Action, src []model.LabelName, regex, target, replacement string) *relabel.Config {
	c := relabel.DefaultRelabelConfig
	c.Action = action
	c.SourceLabels = src
	c.Regex = relabel.MustNewRegexp(regex)
	c.TargetLabel = target
	if replacement != "" {
		c.Replacement = replacement
	}
	c.NameValidationScheme = model.UTF8Validation
	return &c
}

func openMetricsScript() []step {
	om := func(v, ev string) step {
		return step{ctype: omType, body: "# TYPE foo counter\n# HELP foo A counter.\n" +
			"foo_total " + v + ` # {trace_id="abc` + ev + `"} ` + ev + " 1700000000.500\n" +
			"foo_created 1700000000.000\n" +
			"# TYPE temp_celsius gauge\n# UNIT temp_celsius celsius\ntemp_celsius 21.5\n# EOF\n"}
	}
	return []step{om("17", "1"), om("18", "2"), om("19", "3")}
}

func protobufScript(t *testing.T) []step {
	t.Helper()
	created := timestamppb.New(time.UnixMilli(1700000000000))
	enc := func(withHist bool, deltas []int64, sum float64, gauge float64) step {
		var count uint64 = 1 // zero bucket
		var n int64
		for _, d := range deltas {
			n += d
			count += uint64(n)
		}
		var fams []*dto.MetricFamily
		if withHist {
			fams = append(fams, &dto.MetricFamily{
				Name: proto.String("nh"), Help: proto.String("A native histogram."), Type: dto.MetricType_HISTOGRAM.Enum(),
				Metric: []*dto.Metric{{Histogram: &dto.Histogram{
					SampleCount: proto.Uint64(count), SampleSum: proto.Float64(sum),
					Schema: proto.Int32(0), ZeroThreshold: proto.Float64(1e-128), ZeroCount: proto.Uint64(1),
					PositiveSpan:     []*dto.BucketSpan{{Offset: proto.Int32(0), Length: proto.Uint32(uint32(len(deltas)))}},
					PositiveDelta:    deltas,
					CreatedTimestamp: created,
				}}},
			})
		}
		fams = append(fams,
			&dto.MetricFamily{
				Name: proto.String("pg"), Help: proto.String("A gauge."), Type: dto.MetricType_GAUGE.Enum(),
				Metric: []*dto.Metric{{
					Label: []*dto.LabelPair{{Name: proto.String("k"), Value: proto.String("v")}},
					Gauge: &dto.Gauge{Value: proto.Float64(gauge)},
				}},
			},
			&dto.MetricFamily{
				Name: proto.String("pc_total"), Help: proto.String("A counter."), Type: dto.MetricType_COUNTER.Enum(),
				Metric: []*dto.Metric{{Counter: &dto.Counter{Value: proto.Float64(gauge * 10), CreatedTimestamp: created}}},
			},
		)
		var buf bytes.Buffer
		for _, f := range fams {
			if _, err := protodelim.MarshalTo(&buf, f); err != nil {
				t.Fatal(err)
			}
		}
		return step{ctype: protoType, body: buf.String()}
	}
	return []step{
		enc(true, []int64{2, 0}, 12, 1),
		enc(true, []int64{2, 2}, 20, 2),
		enc(false, nil, 0, 3), // the histogram disappears: staleness marker
		enc(true, []int64{3, 1, -2}, 30, 4),
	}
}

// runParity runs one case on both sides and compares what they appended.
func runParity(t *testing.T, c parityCase) {
	promRec, mgrRec := newRecorder(), newRecorder()

	// Each side scrapes its own servers (each serves its script once, in order).
	groups := func() (map[string][]*targetgroup.Group, map[string][]*targetgroup.Group) {
		mk := func() *targetgroup.Group {
			g := &targetgroup.Group{Source: "parity", Labels: c.groupLabels.Clone()}
			for inst, script := range c.targets {
				srv := scriptTarget(t, script)
				u, _ := url.Parse(srv.URL)
				g.Targets = append(g.Targets, model.LabelSet{
					model.AddressLabel:  model.LabelValue(u.Host),
					model.InstanceLabel: model.LabelValue(inst),
				})
			}
			return g
		}
		return map[string][]*targetgroup.Group{parityJob: {mk()}}, map[string][]*targetgroup.Group{parityJob: {mk()}}
	}
	promTS, mgrTS := groups()

	prom := startProm(t, promRec, parityInterval, c.startTS)
	mgr, err := scrapemgr.Start(scrapemgr.Options{
		Logger:          slog.New(slog.DiscardHandler),
		Appendable:      mgrRec,
		ScrapeInterval:  model.Duration(parityInterval),
		StartTimestamps: c.startTS,
	})
	if err != nil {
		t.Fatal(err)
	}
	mgrSide := &scrapemgrSide{m: mgr}
	sides := []struct {
		name string
		s    side
		rec  *recorder
		ts   map[string][]*targetgroup.Group
	}{{"Prometheus", prom, promRec, promTS}, {"scrapemgr", mgrSide, mgrRec, mgrTS}}
	stopped := false
	stopAll := func() {
		if stopped {
			return
		}
		stopped = true
		for _, s := range sides {
			s.s.stop()
		}
	}
	t.Cleanup(stopAll)
	for _, s := range sides {
		g, sc := baseScrapeConfig(t, parityInterval, c.mod)
		if err := s.s.apply(g, sc); err != nil {
			t.Fatalf("%s: apply: %v", s.name, err)
		}
		s.s.sync(s.ts)
	}

	if c.reapply != nil {
		for _, s := range sides {
			waitScrapes(t, s.name, s.rec, c.targets, c.reapplyAfter)
		}
		for _, s := range sides {
			g, sc := baseScrapeConfig(t, parityInterval, func(sc *config.ScrapeConfig) {
				if c.mod != nil {
					c.mod(sc)
				}
				c.reapply(sc)
			})
			if err := s.s.apply(g, sc); err != nil {
				t.Fatalf("%s: apply again: %v", s.name, err)
			}
		}
	}
	if c.remove != "" {
		for _, s := range sides {
			waitScrapes(t, s.name, s.rec, c.targets, c.removeAfter)
		}
		for _, s := range sides {
			g := s.ts[parityJob][0]
			kept := &targetgroup.Group{Source: g.Source, Labels: g.Labels}
			for _, tg := range g.Targets {
				if string(tg[model.InstanceLabel]) != c.remove {
					kept.Targets = append(kept.Targets, tg)
				}
			}
			s.s.sync(map[string][]*targetgroup.Group{parityJob: {kept}})
		}
		for _, s := range sides {
			for _, w := range c.wantStale {
				waitFor(t, s.name+": staleness marker for "+w, func() bool { return s.rec.hasStale(w) })
			}
		}
	}
	// Every (remaining) target serves its last step at least twice on each side.
	remaining := map[string][]step{}
	for inst, script := range c.targets {
		if inst != c.remove {
			remaining[inst] = script
		}
	}
	for _, s := range sides {
		for inst, script := range remaining {
			n := len(script) + 2 + c.removeAfter + c.reapplyAfter
			waitScrapes(t, s.name, s.rec, map[string][]step{inst: script}, n)
		}
	}
	stopAll()

	opts := compareOpts{timestamps: c.timestamps, collapse: map[string]bool{}}
	if c.remove != "" {
		// The removed target was scraped a different number of times on each side before
		// the removal reached its loop: its series are compared with repeats collapsed.
		opts.collapse[c.remove] = true
	}
	if c.reapply != nil {
		// The new config reaches each side's loop after a different number of scrapes.
		for inst := range c.targets {
			opts.collapse[inst] = true
		}
	}
	for _, d := range diffRecordings(promRec, mgrRec, opts) {
		t.Error(d)
	}
	for _, s := range sides {
		for _, p := range s.rec.problems() {
			t.Errorf("%s: %s", s.name, p)
		}
	}

	// The case's own expectations, on Prometheus' recording (scrapemgr's is compared
	// with it above), so that a case fails when both sides append nothing.
	if testing.Verbose() {
		dump(t, "Prometheus", promRec)
		dump(t, "scrapemgr", mgrRec)
	}
	series, _, _, _ := promRec.snapshot()
	for _, w := range c.want {
		if len(series[w]) == 0 {
			t.Errorf("Prometheus appended nothing for %s; series: %v", w, seriesNames(series))
		}
	}
	for _, w := range c.wantStale {
		if !promRec.hasStale(w) {
			t.Errorf("no staleness marker for %s", w)
		}
	}
	for _, w := range c.wantNoStale {
		if promRec.hasStale(w) {
			t.Errorf("unexpected staleness marker for %s", w)
		}
	}
	for w, kind := range c.wantKinds {
		found := false
		for _, p := range series[w] {
			found = found || p.kind == kind
		}
		if !found {
			t.Errorf("no %s point for %s: %+v", kind, w, series[w])
		}
	}
	for _, w := range c.wantNoSeries {
		if len(series[w]) != 0 {
			t.Errorf("unexpected series %s", w)
		}
	}
}

func seriesNames(m map[string][]point) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// scrapemgrSide drives scrapemgr through its exported API only.
type scrapemgrSide struct{ m *scrapemgr.Manager }

func (s *scrapemgrSide) apply(g config.GlobalConfig, sc *config.ScrapeConfig) error {
	return s.m.Apply(g, []*config.ScrapeConfig{sc})
}

func (s *scrapemgrSide) sync(tsets map[string][]*targetgroup.Group) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !s.m.Sync(ctx, tsets) {
		panic("scrapemgr: Sync timed out")
	}
}

func (s *scrapemgrSide) stop() { s.m.Stop() }

// waitScrapes waits until each target of targets was scraped n times (committed `up`).
func waitScrapes(t *testing.T, name string, rec *recorder, targets map[string][]step, n int) {
	t.Helper()
	for inst := range targets {
		waitFor(t, name+": "+inst+" scraped "+strconv.Itoa(n)+" times", func() bool { return rec.scrapesOf(inst) >= n })
	}
}

// waitFor polls cond (an Eventually): the deadline only bounds a hung case.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second) // 50 scrape intervals
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
