package remotewrite

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"

	"github.com/sondehq/sonde/internal/httppush"
	"github.com/sondehq/sonde/pipeline"
)

// shard sends the samples of the series mapped to it, in WAL order, one batch at a time.
// A batch is retried until it is acknowledged or rejected for good, so a series' samples
// are never sent out of order.
type shard struct {
	s  *sender
	in *sampleQueue

	mu    sync.Mutex
	acked samplePos // last sample acknowledged or dropped

	batch []queuedSample
	lbls  []prompb.Label // 2.0: one series' labels
	raw   []byte         // 1.0: one series' labels in their own encoding
	v2    v2Buffers
	// exUnsent counts the exemplars of the batch the last encoding left out.
	exUnsent int
	pb       []byte
	body     []byte
	// bufFor is the largest batch the buffers above were grown for since they were last let
	// go; largeAt is when a batch last needed more than half of that.
	bufFor  int
	largeAt time.Time
}

// minBufferRelease is the batch size below which the buffers are kept whatever happens:
// too small to matter.
const minBufferRelease = 256

// releaseIdleBuffers lets the request buffers go when no batch has needed more than a
// half of them for the sender's bufferIdle: after a backlog (an outage) every batch is
// max_samples_per_send, afterwards they are small again, and the memory the backlog took
// is given back instead of being held for good. Called between batches.
func (sh *shard) releaseIdleBuffers(now time.Time) {
	if sh.bufFor < minBufferRelease || now.Sub(sh.largeAt) < sh.s.bufferIdle {
		return
	}
	sh.batch, sh.lbls, sh.raw, sh.pb, sh.body = nil, nil, nil, nil, nil
	sh.v2.release()
	sh.bufFor = 0
}

func (sh *shard) run(ctx context.Context) {
	deadline := time.Duration(sh.s.cfg.BatchSendDeadline)
	maxBatch := sh.s.cfg.MaxSamplesPerSend
	full := sh.in.batch // what makes a batch worth sending at once
	timer := time.NewTimer(deadline)
	timer.Stop()
	defer timer.Stop()
	armed := false // the timer runs: the oldest queued sample waits for it
	for {
		due := false // the deadline passed: send what is queued, however little
		select {
		case <-ctx.Done():
			return
		case <-sh.in.ready:
		case <-timer.C:
			armed, due = false, true
		}
		// Samples stay in the queue until a batch is sent: the queue wakes the shard when a
		// batch is complete, and when it was empty (to start the deadline).
		for {
			queued, closed := sh.in.length()
			if queued < full && !due && !closed {
				if queued > 0 && !armed {
					timer.Reset(deadline)
					armed = true
				}
				break
			}
			_, done := sh.in.moveTo(&sh.batch, maxBatch)
			if len(sh.batch) > 0 {
				if armed {
					timer.Stop()
					armed = false
				}
				if !sh.send(ctx) {
					return
				}
			}
			if done { // the reader drained the WAL and all is sent
				return
			}
			due = false // a deadline sends one batch; the rest starts a new one
		}
	}
}

// send sends the batch until it is acknowledged or rejected for good, and reports false
// if ctx ended first (the batch then stays unacknowledged).
func (sh *shard) send(ctx context.Context) bool {
	s := sh.s
	failed := false
	defer func() {
		if failed {
			s.failing.Add(-1)
		}
	}()
	res, ok := sh.deliver(ctx, sh.batch, &failed)
	if !ok {
		return false
	}
	if res.Err != nil {
		// Rejected for good. When the receiver objects to single samples (a Prometheus
		// answers 400 to a whole request for one out-of-order or too-old sample, which is
		// what re-sent samples look like after a crash), one sample must not take the others
		// down: split and deliver the parts that the receiver accepts.
		dropped := len(sh.batch)
		if sampleLevelRejection(res) {
			if dropped, ok = sh.split(ctx, sh.batch, maxSplitDepth, &failed); !ok {
				return false
			}
		}
		s.logger.Warn("receiver rejected samples, dropped", "url", s.url, "status", res.Status,
			"samples", dropped, "batch", len(sh.batch), "body", res.Body)
		s.health.Set(pipeline.HealthUnhealthy, fmt.Sprintf("%d samples rejected by %s with status %d: %s", dropped, s.url, res.Status, res.Body))
		s.m.samplesDropped.WithLabelValues(reasonHTTP4xx).Add(float64(dropped))
	}
	sh.ack()
	return true
}

// maxSplitDepth bounds the requests spent on a rejected batch: at most 2^maxSplitDepth parts.
const maxSplitDepth = 5

// sampleLevelRejection reports whether a permanent rejection names a problem of single
// samples rather than of the request (auth, size, format).
func sampleLevelRejection(res httppush.Result) bool {
	if res.Status != http.StatusBadRequest {
		return false
	}
	b := strings.ToLower(res.Body)
	for _, k := range []string{"out of order", "out-of-order", "out of bounds", "duplicate sample", "too old", "too far"} {
		if strings.Contains(b, k) {
			return true
		}
	}
	return false
}

// split delivers the two halves of items on their own, recursively up to depth, and returns
// how many samples were rejected for good.
func (sh *shard) split(ctx context.Context, items []queuedSample, depth int, failed *bool) (dropped int, ok bool) {
	if len(items) < 2 || depth == 0 {
		return len(items), true
	}
	for _, part := range [][]queuedSample{items[:len(items)/2], items[len(items)/2:]} {
		res, ok := sh.deliver(ctx, part, failed)
		if !ok {
			return 0, false
		}
		if res.Err != nil {
			d, ok := sh.split(ctx, part, depth-1, failed)
			if !ok {
				return 0, false
			}
			dropped += d
		}
	}
	return dropped, true
}

// deliver sends items until they are acknowledged (res.Err == nil) or rejected for good
// (res.Err != nil), retrying 5xx, 429 and network errors with backoff. It reports false
// when ctx ended first or a flush gave up.
func (sh *shard) deliver(ctx context.Context, items []queuedSample, failed *bool) (httppush.Result, bool) {
	s, m, n := sh.s, sh.s.m, len(items)
	exemplars := countExemplars(items)
	proto := s.neg.current()
	busyFrom := time.Now()
	body := sh.encode(items, proto)
	defer func() { s.busyNanos.Add(int64(time.Since(busyFrom))) }()
	for attempt := 0; ; attempt++ {
		if ctx.Err() != nil {
			return httppush.Result{}, false
		}
		if attempt > 0 {
			m.samplesRetried.Add(float64(n))
			s.status.Retry()
		}
		start := time.Now()
		res := s.clients[proto].Post(s.reqCtx, body)
		m.requestDuration.Observe(time.Since(start).Seconds())
		code := "error"
		if res.Status != 0 {
			code = strconv.Itoa(res.Status)
		}
		m.requests.WithLabelValues(code).Inc()

		stats, counted := writeStats(res)
		if s.neg.mustFallBack(proto, res, stats) {
			// A 1.0 receiver: the batch was not written (or refused); send it again as 1.0,
			// not as a retry.
			s.neg.fallBack(s.logger, s.url, res.Status)
			proto = protoV1
			body = sh.encode(items, proto)
			attempt--
			continue
		}
		if res.Err == nil {
			s.status.Success(time.Now())
			values := n - exemplars
			written := values
			if proto == protoV2 && counted && stats.AllSamples() < values {
				written = stats.AllSamples()
				sh.partialWrite(values, written)
			}
			m.samplesSent.Add(float64(written))
			m.exemplarsSent.Add(float64(exemplars - sh.exUnsent))
			m.sentBytes.Add(float64(len(body)))
			if attempt > 0 {
				s.logger.Info("remote write recovered", "url", s.url, "attempts", attempt+1)
			}
			s.health.Set(pipeline.HealthHealthy, "")
			return res, true
		}
		if ctx.Err() != nil {
			return res, false // stopping: the batch stays unacknowledged
		}
		m.samplesFailed.Add(float64(n))
		m.lastSendError.SetToCurrentTime()
		s.status.Failure(time.Now(), httppush.Redact(res.Err.Error(), s.rawURL), res.Status, res.Retryable())
		if !*failed {
			*failed = true
			s.failing.Add(1)
		}
		if !res.Retryable() {
			return res, true
		}
		s.health.Set(pipeline.HealthUnhealthy, fmt.Sprintf("sending to %s failed: %v", s.url, res.Err))
		if s.flushing.Load() {
			s.abortFlush()
			return res, false
		}
		d := res.RetryAfter
		if d == 0 {
			d = httppush.Backoff(attempt, time.Duration(s.cfg.MinBackoff), time.Duration(s.cfg.MaxBackoff))
		}
		if attempt == 0 {
			s.logger.Warn("remote write failed, retrying", "url", s.url, "status", res.Status, "err", res.Err, "retry_in", d)
		} else {
			s.logger.Debug("remote write failed again, retrying", "url", s.url, "status", res.Status, "attempt", attempt+1, "retry_in", d)
		}
		s.busyNanos.Add(int64(time.Since(busyFrom)))
		if s.sleep(ctx, d) != nil {
			busyFrom = time.Now()
			return res, false
		}
		busyFrom = time.Now() // the backoff is not time spent sending
	}
}

// countExemplars counts the exemplars among items; the rest are samples and histograms.
func countExemplars(items []queuedSample) int {
	n := 0
	for i := range items {
		if x := items[i].x; x != nil && x.ex != nil {
			n++
		}
	}
	return n
}

// ack marks the batch done: records' pending counts, the shard position, metrics.
func (sh *shard) ack() {
	s := sh.s
	var (
		cur  *recEntry
		run  int
		maxT = int64(minTimestamp)
	)
	for i := range sh.batch {
		it := &sh.batch[i]
		if it.rec != cur {
			if cur != nil {
				s.tracker.done(cur, run)
			}
			cur, run = it.rec, 0
		}
		run++
		maxT = max(maxT, it.t)
	}
	if cur != nil {
		s.tracker.done(cur, run)
	}
	last := sh.batch[len(sh.batch)-1]
	sh.mu.Lock()
	sh.acked = samplePos{Segment: last.rec.pos.Segment, Offset: last.rec.pos.Offset, Index: int(last.idx)}
	sh.mu.Unlock()
	observeMax(&s.m.highestSentMs, s.m.highestSent, maxT)
	s.pending.Add(int64(-len(sh.batch)))
	s.done.Add(int64(len(sh.batch)))
	s.m.pendingSamples.Sub(float64(len(sh.batch)))
	clear(sh.batch)
	sh.batch = sh.batch[:0]
	s.acked()
	sh.releaseIdleBuffers(time.Now())
}

// encode builds the request body for items in protocol p, reusing the shard's buffers.
func (sh *shard) encode(items []queuedSample, p protocol) []byte {
	n := len(items)
	if n*2 > sh.bufFor {
		sh.largeAt = time.Now()
	}
	sh.bufFor = max(sh.bufFor, n)
	if p == protoV2 {
		return sh.encodeV2(items)
	}
	// After a fallback from 2.0 (remembered for the endpoint) the 2.0 buffers serve no
	// request again: 2.3 MiB at 100k series were held for good.
	sh.v2.release()
	sh.exUnsent = 0
	return sh.encodeV1(items)
}

// partialWrite handles a 2xx whose *-Written headers count fewer samples than were sent:
// the receiver took the request and wrote only part of it, and says which part nowhere.
// Sending it again cannot help (what was written would be rejected as duplicates, the
// rest was refused as it stands), so, as Prometheus does, the batch is done; the shortfall
// is counted as dropped (reason partial_write) and logged, the first time as a warning.
func (sh *shard) partialWrite(sent, written int) {
	s := sh.s
	s.m.samplesDropped.WithLabelValues(reasonPartialWrite).Add(float64(sent - written))
	level := slog.LevelDebug
	if s.partialLogged.CompareAndSwap(false, true) {
		level = slog.LevelWarn
	}
	s.logger.Log(context.Background(), level, "receiver wrote only part of a batch; the rest is dropped (further ones are logged at debug level)",
		"url", s.url, "sent", sent, "written", written)
}

// appendLabels appends the series labels merged with the sorted external labels (the
// series' own value wins), keeping the result sorted by name as remote write requires.
func appendLabels(dst []prompb.Label, ls labels.Labels, ext []prompb.Label) []prompb.Label {
	j := 0
	ls.Range(func(l labels.Label) {
		for j < len(ext) && ext[j].Name < l.Name {
			dst = append(dst, ext[j])
			j++
		}
		if j < len(ext) && ext[j].Name == l.Name {
			j++
		}
		dst = append(dst, prompb.Label{Name: l.Name, Value: l.Value})
	})
	return append(dst, ext[j:]...)
}
