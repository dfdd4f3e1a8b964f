package main

import (
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
)

// contentType is the classic text exposition format, which every agent under test accepts.
const contentType = "text/plain; version=0.0.4; charset=utf-8"

type kind uint8

const (
	counter kind = iota
	gauge
	histogram
)

// dim is one label of a family: a fixed list of values, or, when values is empty, an
// open-ended value formatted from an index (prefix + index), so any number of series fits.
// Label values depend only on the series' position, never on the seed: every scrape and
// every run exposes the same series.
type dim struct {
	name   string
	values []string
	prefix string
}

// familySpec describes one metric family of the mix.
type familySpec struct {
	name, help string
	kind       kind
	weight     int     // share of a target's series, in percent
	scale      float64 // gauges: step of the random walk; histograms: mean observation
	dims       []dim   // the last dim is the open-ended one and varies slowest
}

// histogramBuckets are Prometheus' default buckets; an instance is one series per bucket,
// one for +Inf, _sum and _count.
var histogramBuckets = [...]float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

const histogramSeries = len(histogramBuckets) + 3

var (
	methods4 = []string{"GET", "POST", "PUT", "DELETE"}
	methods2 = []string{"GET", "POST"}
)

// familySpecs is the mix of a target's series: about 45% counters, 30% classic histogram
// series and 25% gauges, each with two or three labels besides job and instance.
var familySpecs = []familySpec{
	{name: "http_requests_total", help: "HTTP requests served.", kind: counter, weight: 25, dims: []dim{
		{name: "method", values: methods4},
		{name: "code", values: []string{"200", "201", "304", "400", "404", "500"}},
		{name: "handler", prefix: "/api/v1/resource"},
	}},
	{name: "http_request_duration_seconds", help: "HTTP request latency.", kind: histogram, weight: 30, scale: 0.1, dims: []dim{
		{name: "method", values: methods2},
		{name: "handler", prefix: "/api/v1/resource"},
	}},
	{name: "rpc_client_calls_total", help: "Outgoing RPC calls.", kind: counter, weight: 20, dims: []dim{
		{name: "service", values: []string{"users", "orders", "billing", "inventory", "search"}},
		{name: "status", values: []string{"ok", "error"}},
		{name: "rpc", prefix: "Call"},
	}},
	{name: "worker_queue_length", help: "Items waiting in a work queue.", kind: gauge, weight: 10, scale: 3, dims: []dim{
		{name: "priority", values: []string{"high", "normal", "low"}},
		{name: "queue", prefix: "queue-"},
	}},
	{name: "cache_size_bytes", help: "Bytes held by a cache.", kind: gauge, weight: 15, scale: 1 << 16, dims: []dim{
		{name: "tier", values: []string{"l1", "l2"}},
		{name: "cache", prefix: "cache-"},
	}},
}

// allocate splits m series between the families: whole histogram instances first, then the
// other families by weight, the last one taking the remainder, so the total is exactly m.
func allocate(specs []familySpec, m int) []int {
	counts := make([]int, len(specs))
	rest, restWeight, last := m, 0, -1
	for i, s := range specs {
		if s.kind == histogram {
			counts[i] = m * s.weight / 100 / histogramSeries * histogramSeries
			rest -= counts[i]
			continue
		}
		restWeight += s.weight
		last = i
	}
	left := rest
	for i, s := range specs {
		if s.kind == histogram || i == last {
			continue
		}
		counts[i] = rest * s.weight / restWeight
		left -= counts[i]
	}
	counts[last] += left
	return counts
}

// family is one family's place in a target: its header lines and its series range.
type family struct {
	spec        *familySpec
	header      []byte
	first, size int
}

// target serves one exposition endpoint. The label part of every line is rendered once, at
// construction; a scrape only advances the values and formats them, so that serving stays
// cheap next to the agent being measured.
type target struct {
	mu     sync.Mutex // held for a whole scrape: values, rng and buf
	rng    *rand.Rand
	fams   []family
	prefix [][]byte  // per series: `name{labels} `
	values []float64 // per series
	buf    []byte    // the last response body, reused
	churn  *churn    // nil: the same series forever

	scrapes atomic.Uint64
}

func newTarget(m int, seed uint64) *target {
	t := &target{
		rng:    rand.New(rand.NewPCG(seed, 0x5eed)),
		prefix: make([][]byte, 0, m),
		values: make([]float64, 0, m),
	}
	counts := allocate(familySpecs, m)
	size := 0
	for i := range familySpecs {
		spec := &familySpecs[i]
		if counts[i] == 0 {
			continue
		}
		f := family{spec: spec, first: len(t.prefix), size: counts[i]}
		f.header = appendHeader(nil, spec)
		size += len(f.header)
		n := counts[i]
		if spec.kind == histogram {
			n /= histogramSeries
		}
		for k := range n {
			labels := appendLabels(nil, spec.dims, k)
			for _, p := range seriesPrefixes(spec, labels) {
				t.prefix = append(t.prefix, p)
				t.values = append(t.values, t.initial(spec))
				size += len(p) + 24
			}
		}
		t.fams = append(t.fams, f)
	}
	t.buf = make([]byte, 0, size)
	return t
}

// seriesPrefixes renders the line prefixes of one series (one per histogram series).
func seriesPrefixes(spec *familySpec, labels []byte) [][]byte {
	line := func(suffix string, extra string) []byte {
		b := make([]byte, 0, len(spec.name)+len(suffix)+len(labels)+len(extra)+4)
		b = append(b, spec.name...)
		b = append(b, suffix...)
		b = append(b, '{')
		b = append(b, labels...)
		if extra != "" {
			b = append(b, ',')
			b = append(b, extra...)
		}
		return append(b, "} "...)
	}
	if spec.kind != histogram {
		return [][]byte{line("", "")}
	}
	out := make([][]byte, 0, histogramSeries)
	for _, le := range histogramBuckets {
		out = append(out, line("_bucket", `le="`+strconv.FormatFloat(le, 'g', -1, 64)+`"`))
	}
	out = append(out, line("_bucket", `le="+Inf"`), line("_sum", ""), line("_count", ""))
	return out
}

func (t *target) initial(spec *familySpec) float64 {
	switch spec.kind {
	case counter:
		return float64(t.rng.IntN(1_000_000))
	case gauge:
		return math.Round(t.rng.Float64() * spec.scale * 20)
	default: // histograms start empty: every bucket, sum and count at zero
		return 0
	}
}

func appendHeader(b []byte, spec *familySpec) []byte {
	b = append(b, "# HELP "...)
	b = append(b, spec.name...)
	b = append(b, ' ')
	b = append(b, spec.help...)
	b = append(b, "\n# TYPE "...)
	b = append(b, spec.name...)
	b = append(b, ' ')
	b = append(b, [...]string{"counter", "gauge", "histogram"}[spec.kind]...)
	return append(b, '\n')
}

// appendLabels renders the labels of series k of a family: the fixed dims cycle fastest
// (in mixed radix), the last, open-ended dim counts how often they wrapped.
func appendLabels(b []byte, dims []dim, k int) []byte {
	for i, d := range dims {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, d.name...)
		b = append(b, `="`...)
		if len(d.values) > 0 {
			b = append(b, d.values[k%len(d.values)]...)
			k /= len(d.values)
		} else {
			b = append(b, d.prefix...)
			b = strconv.AppendInt(b, int64(k), 10)
			k = 0
		}
		b = append(b, '"')
	}
	return b
}

// advance moves every value on by one scrape: counters grow, gauges walk, histograms
// observe a few requests.
func (t *target) advance() {
	var obs [len(histogramBuckets) + 1]float64
	for _, f := range t.fams {
		vals := t.values[f.first : f.first+f.size]
		switch f.spec.kind {
		case counter:
			for i := range vals {
				vals[i] += float64(1 + t.rng.IntN(20))
			}
		case gauge:
			for i := range vals {
				vals[i] = max(0, vals[i]+math.Round(t.rng.NormFloat64()*f.spec.scale))
			}
		case histogram:
			for base := 0; base < len(vals); base += histogramSeries {
				clear(obs[:])
				var sum float64
				n := t.rng.IntN(40)
				for range n {
					x := t.rng.ExpFloat64() * f.spec.scale
					sum += x
					i := 0
					for i < len(histogramBuckets) && x > histogramBuckets[i] {
						i++
					}
					obs[i]++
				}
				cum := 0.0
				for i, c := range obs {
					cum += c
					vals[base+i] += cum // buckets are cumulative
				}
				vals[base+len(obs)] += sum
				vals[base+len(obs)+1] += float64(n)
			}
		}
	}
}

// render appends the whole exposition to b.
func (t *target) render(b []byte) []byte {
	for _, f := range t.fams {
		b = append(b, f.header...)
		for i := f.first; i < f.first+f.size; i++ {
			b = append(b, t.prefix[i]...)
			b = appendValue(b, t.values[i])
			b = append(b, '\n')
		}
	}
	return b
}

// appendValue writes integral values as integers (the common case: counters, byte gauges)
// and the rest in the shortest exact form.
func appendValue(b []byte, v float64) []byte {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.AppendInt(b, int64(v), 10)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// ServeHTTP answers one scrape. The response is not compressed even when the agent asks
// for gzip: compressing would make the load generator, not the agent, the bottleneck, and
// every agent gets the same treatment.
func (t *target) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	t.scrapes.Add(1)
	// One lock for the whole scrape keeps buf reusable; a target has one scraper.
	t.mu.Lock()
	defer t.mu.Unlock()
	t.churn.apply(t)
	t.advance()
	t.buf = t.render(t.buf[:0])
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(t.buf)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(t.buf)
}
