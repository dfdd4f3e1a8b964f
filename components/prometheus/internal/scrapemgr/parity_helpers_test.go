package scrapemgr_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	config_util "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/model/value"
	promscrape "github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/storage"
)

// Point kinds as the recorder keeps them.
const (
	kindFloat     = "float"
	kindStale     = "stale"
	kindHistogram = "histogram"
	kindExemplar  = "exemplar"
	kindSTZero    = "st-zero"
)

// point is one call of an Appender that reached Commit, for one series.
type point struct {
	kind string
	val  string // the value as compared: float, stale, histogram summary, exemplar, st
	t    int64  // the sample's timestamp (ms)
	idx  int    // how many scrapes of the series' instance were committed before this one
}

// metaEntry is one UpdateMetadata call, keyed by metric name.
type metaEntry struct {
	metric string
	meta   metadata.Metadata
}

func (m metaEntry) String() string {
	return fmt.Sprintf("%s type=%s help=%q unit=%q", m.metric, m.meta.Type, m.meta.Help, m.meta.Unit)
}

// recorder is a storage.Appendable that keeps every committed call per series, in order.
type recorder struct {
	mu      sync.Mutex
	series  map[string][]point // labels.String() → points
	lsets   map[string]labels.Labels
	refs    map[string]storage.SeriesRef // labels.String() → the ref handed out
	meta    map[metaEntry]bool
	scrapes map[string]int // instance → committed scrapes (batches with an `up` sample)
	commits int
	open    int      // appenders neither committed nor rolled back
	misuse  []string // calls on an appender after its Commit or Rollback
}

func newRecorder() *recorder {
	return &recorder{series: map[string][]point{}, lsets: map[string]labels.Labels{}, refs: map[string]storage.SeriesRef{}, meta: map[metaEntry]bool{}, scrapes: map[string]int{}}
}

// Appender implements storage.Appendable.
func (r *recorder) Appender(context.Context) storage.Appender {
	r.mu.Lock()
	r.open++
	r.mu.Unlock()
	return &recAppender{r: r}
}

// problems lists the appenders left open and the calls made on finished ones.
func (r *recorder) problems() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]string(nil), r.misuse...)
	if r.open != 0 {
		out = append(out, fmt.Sprintf("%d appender(s) neither committed nor rolled back", r.open))
	}
	return out
}

// scrapesOf is how many scrapes of an instance were committed.
func (r *recorder) scrapesOf(instance string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.scrapes[instance]
}

// hasStale tells whether the series got a staleness marker.
func (r *recorder) hasStale(series string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.series[series] {
		if p.kind == kindStale {
			return true
		}
	}
	return false
}

// snapshot copies what was recorded.
func (r *recorder) snapshot() (map[string][]point, map[string]labels.Labels, map[metaEntry]bool, map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := make(map[string][]point, len(r.series))
	ls := make(map[string]labels.Labels, len(r.series))
	for k, v := range r.series {
		s[k] = append([]point(nil), v...)
		ls[k] = r.lsets[k]
	}
	m := make(map[metaEntry]bool, len(r.meta))
	for k := range r.meta {
		m[k] = true
	}
	sc := make(map[string]int, len(r.scrapes))
	for k, v := range r.scrapes {
		sc[k] = v
	}
	return s, ls, m, sc
}

type call struct {
	lset labels.Labels
	p    point
	meta *metadata.Metadata
}

// recAppender buffers one transaction's calls until Commit.
type recAppender struct {
	r     *recorder
	calls []call
	done  bool
}

var _ storage.Appender = (*recAppender)(nil)

// add buffers a call and returns the series' ref. Refs are non-zero and stable per
// series, as a real storage's: the scrape loop caches only series with a ref (and sends
// staleness markers only for cached ones).
func (a *recAppender) add(l labels.Labels, p point) storage.SeriesRef {
	if a.done {
		a.r.mu.Lock()
		a.r.misuse = append(a.r.misuse, fmt.Sprintf("%s for %s on a finished appender", p.kind, l))
		a.r.mu.Unlock()
	}
	a.calls = append(a.calls, call{lset: l.Copy(), p: p})
	return a.r.ref(l)
}

func (r *recorder) ref(l labels.Labels) storage.SeriesRef {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := l.String()
	ref, ok := r.refs[k]
	if !ok {
		ref = storage.SeriesRef(len(r.refs) + 1)
		r.refs[k] = ref
	}
	return ref
}

func (a *recAppender) Append(ref storage.SeriesRef, l labels.Labels, t int64, v float64) (storage.SeriesRef, error) {
	if math.Float64bits(v) == value.StaleNaN {
		return a.add(l, point{kind: kindStale, val: "marker", t: t}), nil
	}
	return a.add(l, point{kind: kindFloat, val: fmt.Sprintf("%g", v), t: t}), nil
}

func (a *recAppender) SetOptions(*storage.AppendOptions) {}

func (a *recAppender) AppendExemplar(ref storage.SeriesRef, l labels.Labels, e exemplar.Exemplar) (storage.SeriesRef, error) {
	v := fmt.Sprintf("%s %g", e.Labels.String(), e.Value)
	if e.HasTs {
		v += fmt.Sprintf(" @%d", e.Ts)
	}
	return a.add(l, point{kind: kindExemplar, val: v, t: e.Ts}), nil
}

func (a *recAppender) AppendHistogram(ref storage.SeriesRef, l labels.Labels, t int64, h *histogram.Histogram, fh *histogram.FloatHistogram) (storage.SeriesRef, error) {
	switch {
	case h != nil && value.IsStaleNaN(h.Sum), fh != nil && value.IsStaleNaN(fh.Sum):
		return a.add(l, point{kind: kindStale, val: "marker", t: t}), nil
	case h != nil:
		return a.add(l, point{kind: kindHistogram, val: fmt.Sprintf("count=%d sum=%g schema=%d zero=%d", h.Count, h.Sum, h.Schema, h.ZeroCount), t: t}), nil
	case fh != nil:
		return a.add(l, point{kind: kindHistogram, val: fmt.Sprintf("fcount=%g sum=%g schema=%d zero=%g", fh.Count, fh.Sum, fh.Schema, fh.ZeroCount), t: t}), nil
	}
	return 0, fmt.Errorf("recorder: AppendHistogram without a histogram")
}

func (a *recAppender) AppendHistogramSTZeroSample(ref storage.SeriesRef, l labels.Labels, t, st int64, _ *histogram.Histogram, _ *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return a.add(l, point{kind: kindSTZero, val: fmt.Sprintf("histogram st=%d", st), t: t}), nil
}

func (a *recAppender) AppendSTZeroSample(ref storage.SeriesRef, l labels.Labels, t, st int64) (storage.SeriesRef, error) {
	return a.add(l, point{kind: kindSTZero, val: fmt.Sprintf("st=%d", st), t: t}), nil
}

func (a *recAppender) UpdateMetadata(ref storage.SeriesRef, l labels.Labels, m metadata.Metadata) (storage.SeriesRef, error) {
	a.calls = append(a.calls, call{lset: l.Copy(), meta: &m})
	return a.r.ref(l), nil
}

func (a *recAppender) Commit() error {
	r := a.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if a.done {
		r.misuse = append(r.misuse, "Commit on a finished appender")
		return fmt.Errorf("recorder: Commit after Commit or Rollback")
	}
	a.done = true
	r.open--
	r.commits++
	ups := map[string]bool{}
	for _, c := range a.calls {
		if c.meta != nil {
			r.meta[metaEntry{metric: c.lset.Get(model.MetricNameLabel), meta: *c.meta}] = true
			continue
		}
		c.p.idx = r.scrapes[c.lset.Get(model.InstanceLabel)]
		k := c.lset.String()
		r.series[k] = append(r.series[k], c.p)
		r.lsets[k] = c.lset
		if c.lset.Get(model.MetricNameLabel) == "up" && c.p.kind == kindFloat {
			ups[c.lset.Get(model.InstanceLabel)] = true
		}
	}
	for inst := range ups {
		r.scrapes[inst]++
	}
	return nil
}

func (a *recAppender) Rollback() error {
	a.r.mu.Lock()
	defer a.r.mu.Unlock()
	if a.done {
		a.r.misuse = append(a.r.misuse, "Rollback on a finished appender")
		return nil
	}
	a.done = true
	a.r.open--
	a.calls = nil
	return nil
}

// step is what a target serves for one scrape.
type step struct {
	body   string
	ctype  string // default: the text format; "none": no Content-Type header at all
	status int    // default: 200
	gzip   bool   // gzip the body (Content-Encoding: gzip); 406 if the scraper does not accept gzip
}

// scriptTarget serves its script's steps one per request, then repeats the last one.
// In a body, $path and $query are replaced by the request's path and sorted query.
func scriptTarget(t *testing.T, script []step) *httptest.Server {
	t.Helper()
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		s := script[min(n, len(script)-1)]
		n++
		mu.Unlock()
		switch s.ctype {
		case "":
			w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		case "none":
			w.Header()["Content-Type"] = nil // present but empty: net/http neither sniffs nor sends one
		default:
			w.Header().Set("Content-Type", s.ctype)
		}
		body := []byte(strings.NewReplacer("$path", r.URL.Path, "$query", r.URL.Query().Encode()).Replace(s.body))
		if s.gzip && !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			http.Error(w, "gzip expected", http.StatusNotAcceptable)
			return
		}
		if s.gzip {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			_, _ = zw.Write(body)
			_ = zw.Close()
			body = buf.Bytes()
			w.Header().Set("Content-Encoding", "gzip")
		}
		if s.status != 0 {
			w.WriteHeader(s.status)
		}
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// side is one of the two managers under comparison.
type side interface {
	apply(global config.GlobalConfig, sc *config.ScrapeConfig) error
	sync(tsets map[string][]*targetgroup.Group)
	stop()
}

// promSide runs Prometheus' scrape manager directly, the way scrapemgr does today.
type promSide struct {
	mgr   *promscrape.Manager
	tsets chan map[string][]*targetgroup.Group
	done  chan struct{}
}

func startProm(t *testing.T, app storage.Appendable, interval time.Duration, startTS bool) *promSide {
	t.Helper()
	mgr, err := promscrape.NewManager(&promscrape.Options{
		DiscoveryReloadInterval:           model.Duration(interval),
		DiscoveryReloadOnStartup:          true,
		AppendMetadata:                    true,
		EnableStartTimestampZeroIngestion: startTS,
	}, slog.New(slog.DiscardHandler), nil, app, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	p := &promSide{mgr: mgr, tsets: make(chan map[string][]*targetgroup.Group), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		_ = mgr.Run(p.tsets)
	}()
	return p
}

func (p *promSide) apply(global config.GlobalConfig, sc *config.ScrapeConfig) error {
	cfg, err := config.Load("", slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	cfg.GlobalConfig = global
	cfg.ScrapeConfigs = []*config.ScrapeConfig{sc}
	return p.mgr.ApplyConfig(cfg)
}

func (p *promSide) sync(tsets map[string][]*targetgroup.Group) { p.tsets <- tsets }

func (p *promSide) stop() {
	p.tsets <- map[string][]*targetgroup.Group{}
	close(p.tsets)
	<-p.done
	p.mgr.Stop()
}

// baseScrapeConfig is a scrape config built like prometheus.scrape builds its own
// (components/prometheus/scrape/config.go), then changed by mod and validated.
func baseScrapeConfig(t *testing.T, interval time.Duration, mod func(*config.ScrapeConfig)) (config.GlobalConfig, *config.ScrapeConfig) {
	t.Helper()
	off := false
	native := false
	sc := &config.ScrapeConfig{
		JobName:                        "parity",
		HonorTimestamps:                true,
		ScrapeInterval:                 model.Duration(interval),
		ScrapeTimeout:                  model.Duration(interval),
		ScrapeProtocols:                config.DefaultScrapeProtocols,
		ScrapeNativeHistograms:         &native,
		AlwaysScrapeClassicHistograms:  &off,
		ConvertClassicHistogramsToNHCB: &off,
		ExtraScrapeMetrics:             &off,
		MetricsPath:                    "/metrics",
		Scheme:                         "http",
		EnableCompression:              true,
		MetricNameValidationScheme:     model.UTF8Validation,
		MetricNameEscapingScheme:       model.AllowUTF8,
		HTTPClientConfig:               config_util.DefaultHTTPClientConfig,
	}
	if mod != nil {
		mod(sc)
	}
	g := config.DefaultGlobalConfig
	g.ScrapeInterval = model.Duration(interval)
	g.ScrapeTimeout = model.Duration(interval)
	if err := sc.Validate(g); err != nil {
		t.Fatalf("scrape config: %v", err)
	}
	return g, sc
}

// reportNames are the series the scrape loop writes about each scrape.
var reportNames = map[string]bool{
	"up": true, "scrape_duration_seconds": true, "scrape_samples_scraped": true,
	"scrape_samples_post_metric_relabeling": true, "scrape_series_added": true,
}

// exposedBefore: sample timestamps (ms) below it were exposed by a script (they are all in
// 2023); later ones are scrape times, which differ between the sides.
const exposedBefore = 1_750_000_000_000

// compareOpts says how the two recordings are compared.
type compareOpts struct {
	timestamps bool            // exposed timestamps must match (honor_timestamps)
	collapse   map[string]bool // instances whose series are compared with repeated points collapsed
}

// scrapeTimes maps, per instance, the timestamp of each scrape (its `up` sample) to the
// scrape's number.
func scrapeTimes(series map[string][]point, lsets map[string]labels.Labels) map[string]map[int64]int {
	out := map[string]map[int64]int{}
	for k, pts := range series {
		if lsets[k].Get(model.MetricNameLabel) != "up" {
			continue
		}
		m := map[int64]int{}
		n := 0
		for _, p := range pts {
			if p.kind == kindFloat {
				m[p.t] = n
				n++
			}
		}
		out[lsets[k].Get(model.InstanceLabel)] = m
	}
	return out
}

// align numbers each point by the scrape whose timestamp it carries (a staleness marker
// or a report sample written in a transaction of its own still belongs to its scrape);
// points with other timestamps (exposed ones, end-of-run markers) keep the number of
// scrapes committed before them. With collapse, the points are put in timestamp order:
// a loop restarted by Apply or stopped by Sync writes its end-of-run markers about two
// intervals late, in a race with the other loops' commits.
func align(pts []point, upTimes map[int64]int, collapse bool) []point {
	out := make([]point, len(pts))
	var prevT int64
	type keyed struct {
		p point
		t int64
	}
	ks := make([]keyed, len(pts))
	for i, p := range pts {
		if n, ok := upTimes[p.t]; ok && p.kind != kindExemplar {
			p.idx = n
		}
		t := p.t
		if p.kind == kindExemplar { // its own (exposed) timestamp: keep it after its sample
			t = prevT
		}
		prevT = t
		out[i] = p
		ks[i] = keyed{p, t}
	}
	if collapse {
		sort.SliceStable(ks, func(i, j int) bool { return ks[i].t < ks[j].t })
		for i := range ks {
			out[i] = ks[i].p
		}
	}
	return out
}

// offScrapeMarkers describes the staleness markers of a series at a time no scrape of
// its instance had, each with the nearest scrape's time; "" if none.
func offScrapeMarkers(pts []point, upTimes map[int64]int) string {
	var out []string
	for _, p := range pts {
		if _, ok := upTimes[p.t]; p.kind != kindStale || ok {
			continue
		}
		nearest, found := int64(0), false
		for t := range upTimes {
			if !found || abs(t-p.t) < abs(nearest-p.t) {
				nearest, found = t, true
			}
		}
		if !found {
			out = append(out, fmt.Sprintf("marker @%d, no scrape", p.t))
			continue
		}
		out = append(out, fmt.Sprintf("marker %+dms from scrape #%d", p.t-nearest, upTimes[nearest]))
	}
	return strings.Join(out, ", ")
}

func abs(d int64) int64 {
	if d < 0 {
		return -d
	}
	return d
}

// comparable turns a series' points into the strings compared: those of scrapes both
// sides completed, numbered by scrape. For instances in o.collapse, all of them in
// timestamp order, runs of equal points collapsed and staleness markers left out but
// for the last point ("ends stale"): an old loop's end-of-run markers and the new loop's
// first scrape (Apply) carry timestamps about equal, in either order.
func comparable(lset labels.Labels, pts []point, limit int, collapse bool, o compareOpts) []string {
	name := lset.Get(model.MetricNameLabel)
	var out []string
	for _, p := range pts {
		if !collapse && p.idx >= limit {
			continue
		}
		s := p.kind + " " + p.val
		if name == "scrape_duration_seconds" && p.kind == kindFloat {
			s = p.kind + " <duration>"
		}
		if o.timestamps && p.t < exposedBefore && !reportNames[name] && p.kind != kindStale && p.kind != kindSTZero {
			s += fmt.Sprintf(" @%d", p.t)
		}
		if collapse && (p.kind == kindStale || len(out) > 0 && out[len(out)-1] == s) {
			continue
		}
		if !collapse {
			s = fmt.Sprintf("scrape #%d: %s", p.idx, s)
		}
		out = append(out, s)
	}
	if collapse && len(pts) > 0 && pts[len(pts)-1].kind == kindStale {
		out = append(out, "ends stale")
	}
	return out
}

// diffRecordings lists every difference between Prometheus' recording (want) and
// scrapemgr's (got), readably.
func diffRecordings(want, got *recorder, o compareOpts) []string {
	ws, wl, wm, wsc := want.snapshot()
	gs, gl, gm, gsc := got.snapshot()
	wup, gup := scrapeTimes(ws, wl), scrapeTimes(gs, gl)
	var diffs []string
	keys := map[string]bool{}
	for k := range ws {
		keys[k] = true
	}
	for k := range gs {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		lset, ok := wl[k]
		if !ok {
			lset = gl[k]
		}
		inst := lset.Get(model.InstanceLabel)
		limit := min(wsc[inst], gsc[inst])
		col := o.collapse[inst]
		wp := comparable(lset, align(ws[k], wup[inst], col), limit, col, o)
		gp := comparable(lset, align(gs[k], gup[inst], col), limit, col, o)
		switch {
		case len(wp) == 0 && len(gp) == 0:
		case len(gp) == 0:
			diffs = append(diffs, fmt.Sprintf("series %s: appended by Prometheus only: %v", k, wp))
		case len(wp) == 0:
			diffs = append(diffs, fmt.Sprintf("series %s: appended by scrapemgr only: %v", k, gp))
		default:
			for i := 0; i < max(len(wp), len(gp)); i++ {
				var w, g string
				if i < len(wp) {
					w = wp[i]
				}
				if i < len(gp) {
					g = gp[i]
				}
				if w != g {
					diffs = append(diffs, fmt.Sprintf("series %s, point %d (of %d and %d compared): Prometheus %q, scrapemgr %q", k, i, len(wp), len(gp), w, g))
					break
				}
			}
		}
		// Markers at no scrape's time are end-of-run ones (a stopped loop) or ones written
		// with another timestamp than their scrape's report; those after the compared
		// scrapes are left out above, but they must match (Prometheus writes none when its
		// manager stops, and a scrape's markers carry its report's timestamp).
		if !col {
			if we, ge := offScrapeMarkers(ws[k], wup[inst]), offScrapeMarkers(gs[k], gup[inst]); we != ge {
				diffs = append(diffs, fmt.Sprintf("series %s: staleness markers at no scrape's timestamp: Prometheus [%s], scrapemgr [%s]", k, we, ge))
			}
		}
	}
	var metaDiffs []string
	for m := range wm {
		if !gm[m] {
			metaDiffs = append(metaDiffs, "metadata from Prometheus only: "+m.String())
		}
	}
	for m := range gm {
		if !wm[m] {
			metaDiffs = append(metaDiffs, "metadata from scrapemgr only: "+m.String())
		}
	}
	sort.Strings(metaDiffs)
	return append(diffs, metaDiffs...)
}

// dump logs a recording, for -v runs.
func dump(t *testing.T, name string, r *recorder) {
	t.Helper()
	s, _, m, sc := r.snapshot()
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	t.Logf("%s: scrapes %v", name, sc)
	for _, k := range keys {
		t.Logf("%s: %s %+v", name, k, s[k])
	}
	for e := range m {
		t.Logf("%s: metadata %s", name, e)
	}
}
