package remotewrite

import (
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/prometheus/prometheus/prompb"
)

// relabelled is what an endpoint's write_relabel_configs make of a series: the labels it is
// sent with (external labels included). Never modified once made.
type relabelled struct {
	lset labels.Labels
}

// relabeller applies an endpoint's write_relabel_configs as Prometheus' remote_write does:
// to the series' labels with the external labels added (the series' own win), dropping the
// series when the rules drop it or leave no label. Results are cached per series, since a
// series is relabelled once and sent many times. It is used by the endpoint's WAL reader
// only.
type relabeller struct {
	rules []*relabel.Config
	ext   []prompb.Label
	lb    *labels.Builder
	// cache holds a result per series in the series table; nil for a dropped series. Series
	// the table collected are swept out when its epoch changes (once per truncation).
	cache map[*memSeries]*relabelled
	epoch uint32
}

func newRelabeller(rules []*relabel.Config, ext []prompb.Label) *relabeller {
	return &relabeller{rules: rules, ext: ext, lb: labels.NewBuilder(labels.EmptyLabels()), cache: map[*memSeries]*relabelled{}}
}

// of returns what the rules make of s; nil when they drop it.
func (r *relabeller) of(s *memSeries) *relabelled {
	if out, ok := r.cache[s]; ok {
		return out
	}
	r.lb.Reset(s.lset)
	for _, l := range r.ext {
		if r.lb.Get(l.Name) == "" {
			r.lb.Set(l.Name, l.Value)
		}
	}
	var out *relabelled
	if relabel.ProcessBuilder(r.lb, r.rules...) {
		if lset := r.lb.Labels(); !lset.IsEmpty() {
			out = &relabelled{lset: lset}
		}
	}
	r.cache[s] = out
	return out
}

// sweep forgets the series the table collected, once per epoch.
func (r *relabeller) sweep(epoch uint32) {
	if epoch == r.epoch {
		return
	}
	r.epoch = epoch
	for s := range r.cache {
		if s.lastSegment.Load() == segRemoved {
			delete(r.cache, s)
		}
	}
}
