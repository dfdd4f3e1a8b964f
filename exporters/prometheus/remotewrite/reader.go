package remotewrite

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/record"
	"github.com/prometheus/prometheus/tsdb/wlog"
)

// walReader tails the WAL from the acknowledged marker, segment by segment, and hands the
// samples to the shards. Series records are not needed here: refs resolve through the
// series table, which the startup replay and the appender keep complete for every sample
// not yet acknowledged (series are collected only once the marker is past them).
type walReader struct {
	s         *sender
	start     marker
	dec       record.Decoder
	samples   []record.RefSample
	entries   []walEntry
	staged    [][]queuedSample
	lrMetrics *wlog.LiveReaderMetrics
	// memRecs and memEntries hold the records copied out of the handoff.
	memRecs    []memRec
	memEntries []walEntry
	// fromMemory and fromFile count the records taken from the handoff and read from
	// segments (tests).
	fromMemory, fromFile atomic.Int64
}

func newWALReader(s *sender, start marker) *walReader {
	return &walReader{
		s:         s,
		start:     start,
		dec:       record.NewDecoder(nil, s.logger),
		staged:    make([][]queuedSample, len(s.shards)),
		lrMetrics: wlog.NewLiveReaderMetrics(nil),
	}
}

type segmentEnd int

const (
	segmentComplete segmentEnd = iota // the writer moved to the next segment and this one is read
	walDrained                        // draining and everything written is read
	readerStopped                     // the context ended
)

func (r *walReader) run(ctx context.Context) {
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	draining := false
	for seg := r.start.Acked.Segment; ; seg++ {
		switch r.readSegment(ctx, seg, ticker.C, &draining) {
		case readerStopped:
			return
		case walDrained:
			for _, sh := range r.s.shards {
				sh.in.close()
			}
			return
		}
		r.s.tracker.pushDone(walPos{Segment: seg + 1})
	}
}

// segmentExists reports whether the writer has started segment seg.
func (r *walReader) segmentExists(seg int) bool {
	return r.s.w.writing.Load() >= int64(seg)
}

// wait blocks until something may have been written, and reports false when ctx ended.
func (r *walReader) wait(ctx context.Context, tick <-chan time.Time, draining *bool) bool {
	var drain <-chan struct{}
	if !*draining {
		drain = r.s.drain
	}
	select {
	case <-ctx.Done():
		return false
	case <-r.s.w.notify:
	case <-tick:
	case <-drain:
		*draining = true
	}
	return true
}

func (r *walReader) readSegment(ctx context.Context, seg int, tick <-chan time.Time, draining *bool) segmentEnd {
	f, err := os.Open(wlog.SegmentName(r.s.w.dir, seg))
	for err != nil {
		// Only the first segment can be missing (deleted by hand, or the marker is stale):
		// the next ones are opened only once they exist.
		if r.segmentExists(seg+1) || *draining {
			r.s.logger.Warn("WAL segment cannot be read, skipping it", "segment", seg, "err", err)
			if *draining {
				return walDrained
			}
			return segmentComplete
		}
		if !r.wait(ctx, tick, draining) {
			return readerStopped
		}
		f, err = os.Open(wlog.SegmentName(r.s.w.dir, seg))
	}
	defer f.Close()
	c := &cursor{r: r, seg: seg, f: f, lr: wlog.NewLiveReader(r.s.logger, r.lrMetrics, f)}
	for {
		if !c.next(ctx) {
			return readerStopped
		}
		if r.segmentExists(seg + 1) {
			// The writer moved on, so this segment is final: read what came in meanwhile.
			if !c.next(ctx) {
				return readerStopped
			}
			return segmentComplete
		}
		if *draining {
			return walDrained // appends are closed: everything written is read
		}
		if !r.wait(ctx, tick, draining) {
			return readerStopped
		}
	}
}

// process hands the samples of one record to the shards, and reports false if ctx ended.
func (r *walReader) process(ctx context.Context, seg int, end int64, rec []byte) bool {
	pos := walPos{Segment: seg, Offset: end}
	if !r.start.Acked.less(pos) {
		return true // acknowledged before the start
	}
	entries, err := r.decode(rec)
	if err != nil {
		r.s.w.corruptRead(seg, err)
		r.s.tracker.pushDone(pos)
		return true
	}
	return r.queue(ctx, pos, entries)
}

// processEntries is process for a record's entries taken from the handoff (nil: nothing
// to send).
func (r *walReader) processEntries(ctx context.Context, seg int, end int64, entries []walEntry) bool {
	pos := walPos{Segment: seg, Offset: end}
	if !r.start.Acked.less(pos) {
		return true // acknowledged before the start
	}
	return r.queue(ctx, pos, entries)
}

// queue hands the entries of the record ending at pos, not acknowledged before the start,
// to the shards.
func (r *walReader) queue(ctx context.Context, pos walPos, entries []walEntry) bool {
	seg, end := pos.Segment, pos.Offset
	s := r.s
	if entries == nil {
		s.tracker.pushDone(pos) // series and other records: nothing to send
		return true
	}
	e := &recEntry{pos: pos}
	nShards := uint64(len(s.shards))
	// The shards of the marker the reader started from may have been fewer or more (the
	// count adapted, or the configuration changed): a sample was theirs by its ref modulo
	// their count, and what they acknowledged is not sent again.
	prevShards := uint64(len(r.start.Shards))
	n, unknown, filtered := 0, 0, 0
	if s.relabel != nil {
		s.relabel.sweep(s.w.epoch.Load())
	}
	for i, smp := range entries {
		k := uint64(smp.Ref) % nShards
		if prevShards > 0 && (samplePos{Segment: seg, Offset: end, Index: i}).lessEq(r.start.Shards[uint64(smp.Ref)%prevShards]) {
			continue // acknowledged before the start
		}
		ms := s.w.table.getByRef(chunks.HeadSeriesRef(smp.Ref))
		if ms == nil {
			unknown++
			continue
		}
		var out *relabelled
		if s.relabel != nil {
			if out = s.relabel.of(ms); out == nil {
				filtered++
				continue
			}
		}
		r.staged[k] = append(r.staged[k], queuedSample{s: ms, out: out, st: smp.ST, t: smp.T, v: smp.V, x: smp.x, rec: e, idx: int32(i)})
		n++
	}
	if unknown > 0 {
		s.m.samplesDropped.WithLabelValues(reasonUnknownSeries).Add(float64(unknown))
	}
	if filtered > 0 {
		s.m.samplesFiltered.Add(float64(filtered))
	}
	if n == 0 {
		s.tracker.pushDone(pos)
		return true
	}
	e.pending.Store(int64(n))
	s.pending.Add(int64(n))
	s.m.pendingSamples.Add(float64(n))
	s.m.samplesIn.Add(float64(n))
	s.tracker.push(e)
	for k, items := range r.staged {
		if len(items) == 0 {
			continue
		}
		if !s.shards[k].in.put(ctx, items) {
			return false
		}
		clear(items)
		r.staged[k] = items[:0]
	}
	return true
}

// walEntry is one sample, native histogram or exemplar of a WAL record.
type walEntry struct {
	Ref chunks.HeadSeriesRef
	ST  int64 // start timestamp; 0: none
	T   int64
	V   float64
	x   *extra
}

// decode returns the entries of a record to send, nil for records that hold none. They
// are valid until the next call.
func (r *walReader) decode(rec []byte) ([]walEntry, error) {
	out, err := decodeEntries(&r.dec, rec, &r.samples, r.entries[:0])
	r.entries = out[:0]
	return out, err
}

// decodeEntries appends the samples, native histograms and exemplars of rec to out; nil
// for records that hold none. samples is a reusable buffer.
func decodeEntries(dec *record.Decoder, rec []byte, samples *[]record.RefSample, out []walEntry) ([]walEntry, error) {
	var err error
	switch dec.Type(rec) {
	case record.Samples, record.SamplesV2:
		if *samples, err = dec.Samples(rec, (*samples)[:0]); err != nil {
			return nil, err
		}
		out = appendSampleEntries(out, *samples)
	case record.HistogramSamples, record.HistogramSamplesV2, record.CustomBucketsHistogramSamples:
		hs, err := dec.HistogramSamples(rec, nil)
		if err != nil {
			return nil, err
		}
		for _, h := range hs {
			out = append(out, walEntry{Ref: h.Ref, T: h.T, x: &extra{h: h.H}})
		}
	case record.FloatHistogramSamples, record.FloatHistogramSamplesV2, record.CustomBucketsFloatHistogramSamples:
		hs, err := dec.FloatHistogramSamples(rec, nil)
		if err != nil {
			return nil, err
		}
		for _, h := range hs {
			out = append(out, walEntry{Ref: h.Ref, T: h.T, x: &extra{fh: h.FH}})
		}
	case record.Exemplars:
		exs, err := dec.Exemplars(rec, nil)
		if err != nil {
			return nil, err
		}
		for i := range exs {
			out = append(out, walEntry{Ref: exs[i].Ref, T: exs[i].T, V: exs[i].V, x: &extra{ex: &exs[i]}})
		}
	default:
		return nil, nil
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// appendSampleEntries appends the entries of float samples to out.
func appendSampleEntries(out []walEntry, samples []record.RefSample) []walEntry {
	for _, s := range samples {
		out = append(out, walEntry{Ref: s.Ref, ST: s.ST, T: s.T, V: s.V})
	}
	return out
}

// countUnsent counts the samples in segments [from.Acked.Segment, to) that the marker does
// not cover: what is lost when those segments are dropped unsent.
func countUnsent(dir string, from marker, to int) (int, error) {
	shards := uint64(len(from.Shards))
	dec := record.NewDecoder(nil, nil)
	var (
		samples []record.RefSample
		entries []walEntry
	)
	total := 0
	for seg := from.Acked.Segment; seg < to; seg++ {
		f, err := wlog.OpenReadSegment(wlog.SegmentName(dir, seg))
		if errors.Is(err, os.ErrNotExist) {
			continue
		} else if err != nil {
			return total, err
		}
		lr := wlog.NewLiveReader(nil, wlog.NewLiveReaderMetrics(nil), f)
		for lr.Next() {
			end := lr.Offset()
			if !from.Acked.less(walPos{Segment: seg, Offset: end}) {
				continue
			}
			if entries, err = decodeEntries(&dec, lr.Record(), &samples, entries[:0]); err != nil {
				break
			}
			for i, e := range entries {
				if e.x != nil && e.x.ex != nil {
					continue // exemplars are not samples
				}
				if shards > 0 && (samplePos{Segment: seg, Offset: end, Index: i}).lessEq(from.Shards[uint64(e.Ref)%shards]) {
					continue
				}
				total++
			}
		}
		f.Close()
	}
	return total, nil
}
