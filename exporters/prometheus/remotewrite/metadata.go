package remotewrite

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/prompb"

	"github.com/sondehq/sonde/internal/httppush"
)

// Metadata (the type, help and unit of a metric family) goes inline in every series with
// remote write 2.0 (shard_v2.go). With 1.0 it is sent as Prometheus sends it: in requests of its own, carrying only prompb.MetricMetadata, one per
// family, all of it every send_interval. It is kept in memory only, not in the WAL: after
// a restart it is known again from the first scrape of each target, which reports every
// series as new (until then, samples replayed from the WAL go without it).

// pendingMeta is one metadata update waiting for its appender's Commit.
type pendingMeta struct {
	name string // the series' metric name
	meta metadata.Metadata
}

// metaTable holds the metadata last reported for each metric name: a scrape reports it
// per series, so a histogram foo's foo_bucket, foo_sum and foo_count each carry foo's. It is
// safe for concurrent use; names without series in the WAL's series table are pruned at
// truncation, so it holds at most one entry per series.
type metaTable struct {
	mu     sync.Mutex
	byName map[string]metadata.Metadata
	size   prometheus.Gauge // len(byName)
}

func newMetaTable(size prometheus.Gauge) *metaTable {
	size.Set(0)
	return &metaTable{byName: map[string]metadata.Metadata{}, size: size}
}

// set records updates, the later ones winning.
func (t *metaTable) set(updates []pendingMeta) {
	if len(updates) == 0 {
		return
	}
	t.mu.Lock()
	for _, u := range updates {
		t.byName[u.name] = u.meta
	}
	t.size.Set(float64(len(t.byName)))
	t.mu.Unlock()
}

// prune forgets the names that are not live.
func (t *metaTable) prune(live map[string]struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for name := range t.byName {
		if _, ok := live[name]; !ok {
			delete(t.byName, name)
		}
	}
	t.size.Set(float64(len(t.byName)))
}

// families returns one MetricMetadata per metric family, sorted by family name. When the
// series of one family report different metadata (several targets), the one of the
// lowest-sorting series name wins.
func (t *metaTable) families() []prompb.MetricMetadata {
	t.mu.Lock()
	names := make([]string, 0, len(t.byName))
	for name := range t.byName {
		names = append(names, name)
	}
	slices.Sort(names)
	out := make([]prompb.MetricMetadata, 0, len(names))
	seen := make(map[string]struct{}, len(names))
	for _, name := range names {
		m := t.byName[name]
		fam := familyName(name, m.Type)
		if _, dup := seen[fam]; dup {
			continue
		}
		seen[fam] = struct{}{}
		out = append(out, prompb.MetricMetadata{
			Type:             prompb.FromMetadataType(m.Type),
			MetricFamilyName: fam,
			Help:             m.Help,
			Unit:             m.Unit,
		})
	}
	t.mu.Unlock()
	slices.SortFunc(out, func(a, b prompb.MetricMetadata) int { return strings.Compare(a.MetricFamilyName, b.MetricFamilyName) })
	return out
}

// familyName is the name of the family that series name belongs to, for a family of type
// typ: the series name less the suffix its type gives it. A counter keeps its _total, as
// in the text format's TYPE line (and Prometheus' metadata API for text scrapes).
func familyName(name string, typ model.MetricType) string {
	var suffixes []string
	switch typ {
	case model.MetricTypeHistogram:
		suffixes = []string{"_bucket", "_sum", "_count"}
	case model.MetricTypeGaugeHistogram:
		suffixes = []string{"_bucket", "_gsum", "_gcount"}
	case model.MetricTypeSummary:
		suffixes = []string{"_sum", "_count"}
	}
	for _, s := range suffixes {
		if f, ok := strings.CutSuffix(name, s); ok && f != "" {
			return f
		}
	}
	return name
}

// lookup calls fn with the metadata of each metric name, under the table's lock: one lock
// for a whole batch of 2.0 series, whose metadata goes inline.
func (t *metaTable) lookup(fn func(get func(name string) (metadata.Metadata, bool))) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fn(func(name string) (metadata.Metadata, bool) {
		m, ok := t.byName[name]
		return m, ok
	})
}

// liveNames returns the metric names of the series in the table.
func (t *seriesTable) liveNames() map[string]struct{} {
	out := map[string]struct{}{}
	t.byRef.each(func(s *memSeries) bool {
		out[s.lset.Get(model.MetricNameLabel)] = struct{}{}
		return true
	})
	return out
}

// sendMetadataLoop sends all metadata every send_interval until ctx ends.
func (s *sender) sendMetadataLoop(ctx context.Context) {
	t := time.NewTicker(time.Duration(s.meta.SendInterval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if s.neg.current() == protoV2 {
				continue // inline in every series sent
			}
			s.sendMetadata(ctx, time.Now().Add(time.Duration(s.meta.SendInterval)))
		}
	}
}

// sendMetadata sends the metadata of every family known, max_samples_per_send families a
// request. A request that fails is retried (5xx, 429, network errors) until it is
// accepted, ctx ends or giveUp passes (the next interval sends it all again anyway);
// a request rejected for good (other 4xx) is dropped. Both are counted.
func (s *sender) sendMetadata(ctx context.Context, giveUp time.Time) {
	fams := s.w.meta.families()
	var buf, body []byte
	for start := 0; start < len(fams); start += s.meta.MaxSamplesPerSend {
		batch := fams[start:min(start+s.meta.MaxSamplesPerSend, len(fams))]
		req := prompb.WriteRequest{Metadata: batch}
		size := req.Size()
		if cap(buf) < size {
			buf = make([]byte, size)
		}
		n, _ := req.MarshalToSizedBuffer(buf[:size]) // cannot fail: the buffer has Size() bytes
		body = compress(body, buf[size-n:size])
		if !s.deliverMetadata(ctx, body, len(batch), giveUp) {
			return
		}
	}
}

// deliverMetadata sends one metadata request of n families, and reports false when ctx
// ended or giveUp passed (the rest waits for the next interval).
func (s *sender) deliverMetadata(ctx context.Context, body []byte, n int, giveUp time.Time) bool {
	for attempt := 0; ; attempt++ {
		res := s.clients[protoV1].Post(s.reqCtx, body)
		switch {
		case res.Err == nil:
			s.m.metadataSent.Add(float64(n))
			return true
		case ctx.Err() != nil:
			return false
		case !res.Retryable():
			s.m.metadataDropped.WithLabelValues(reasonHTTP4xx).Add(float64(n))
			s.logger.Warn("receiver rejected metadata, dropped", "url", s.url, "status", res.Status,
				"families", n, "body", res.Body)
			return true
		}
		d := res.RetryAfter
		if d == 0 {
			d = httppush.Backoff(attempt, time.Duration(s.cfg.MinBackoff), time.Duration(s.cfg.MaxBackoff))
		}
		if time.Now().Add(d).After(giveUp) {
			s.m.metadataDropped.WithLabelValues(reasonSuperseded).Add(float64(n))
			s.logger.Debug("metadata not delivered before the next send interval", "url", s.url,
				"status", res.Status, "err", res.Err)
			return false
		}
		if s.sleep(ctx, d) != nil {
			return false
		}
	}
}
