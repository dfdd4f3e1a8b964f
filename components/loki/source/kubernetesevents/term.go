package kubernetesevents

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/sondehq/sonde/internal/logbatch"
	"github.com/sondehq/sonde/pipeline"
)

// Batch limits: a batch is sent when it holds batchBytes of lines, or batchWait after its
// first line; listPage is the page size of the event lists.
const (
	batchBytes = 1 << 20
	listPage   = 500
)

var batchWait = time.Second // a variable for tests

// retryMin and retryMax bound the backoff after a failed list or watch.
var (
	retryMin = time.Second
	retryMax = 30 * time.Second
)

// term is one leadership term: from taking the Lease until losing it or stopping. It lists
// and watches the events of every namespace (one goroutine each), turns each new version of
// an event into a line, and hands the lines to a batcher whose acknowledgements raise the
// delivered mark the Lease carries.
//
// The delivered mark is the time of the newest event acknowledged with every event read
// before it. While a namespace is listed (the first list of a term, or again after its watch
// expired) the items arrive in no order, so the lines carry no progress; when no namespace
// is listing any more, one chunk without lines carries the newest time handed over, and
// commits once every batch before it is acknowledged. Between lists the events come in the
// order the API server stores them, and each line carries the newest time handed over.
type term struct {
	args    *Arguments
	id      string // the component id: the instance label
	events  corev1client.EventsGetter
	lock    *leaseLock
	metrics *metrics
	logger  *slog.Logger
	out     *logbatch.Batcher[int64]
	stream  logbatch.Stream[int64]
	// cutoff: events older than this were delivered by a previous leader (its mark less
	// failover_overlap); zero when no mark was known (everything listed is sent).
	cutoff time.Time

	// mu orders the chunks handed to the batcher with the progress they carry (send holds
	// it while the batcher takes a chunk), and guards the fields below.
	mu      sync.Mutex
	listing int   // namespaces being listed: no progress until none is
	newest  int64 // time of the newest event handed over (Unix nanoseconds)
	labels  map[string]model.LabelSet

	listed  atomic.Int32                // namespaces whose first list is done
	lastErr atomic.Pointer[errorHolder] // the last failed list or watch, nil after a success
}

// forward runs the term until ctx ends: it follows every namespace and sends their lines.
// The batcher has run (and stopped) when it returns; draining it is the caller's choice.
func (t *term) forward(ctx context.Context) {
	namespaces := t.args.namespaces()
	t.listing = len(namespaces) // before any goroutine: none publishes progress early
	var wg sync.WaitGroup
	wg.Go(func() { t.out.Run(ctx) })
	for _, ns := range namespaces {
		wg.Go(func() { t.follow(ctx, ns) })
	}
	wg.Wait()
}

// follow lists and watches the events of namespace ns ("" for all) until ctx ends, listing
// again whenever the watch cannot resume.
func (t *term) follow(ctx context.Context, ns string) {
	client := t.events.Events(ns)
	seen := map[types.UID]string{} // resource version handed over last, per event
	first := true
	var retry backoff
	for ctx.Err() == nil {
		rv, err := t.list(ctx, client, seen, first)
		if err != nil {
			if ctx.Err() != nil || !t.retry(ctx, &retry, "cannot list events", ns, err) {
				return
			}
			continue
		}
		if first {
			t.listed.Add(1)
			first = false
		}
		retry.reset()
		t.lastErr.Store(nil)
		t.watch(ctx, client, ns, rv, seen)
	}
}

// list reads every event of the namespace and hands the new versions over; it returns the
// list's resource version, to watch from. first says whether this is the term's first list
// (already counted in t.listing).
func (t *term) list(ctx context.Context, client corev1client.EventInterface, seen map[types.UID]string, first bool) (string, error) {
	if !first {
		t.beginListing()
	}
	opts := metav1.ListOptions{Limit: listPage}
	present := map[types.UID]bool{}
	for {
		l, err := client.List(ctx, opts)
		if apierrors.IsResourceExpired(err) && opts.Continue != "" {
			// The continue token expired between pages: start over.
			opts = metav1.ListOptions{Limit: listPage}
			continue
		}
		if err != nil {
			return "", err
		}
		for i := range l.Items {
			ev := &l.Items[i]
			present[ev.UID] = true
			if !t.handle(ctx, ev, seen) {
				return "", ctx.Err()
			}
		}
		if l.Continue == "" {
			// Events deleted while nobody watched are forgotten.
			for uid := range seen {
				if !present[uid] {
					delete(seen, uid)
				}
			}
			if !t.endListing(ctx) {
				return "", ctx.Err()
			}
			return l.ResourceVersion, nil
		}
		opts.Continue = l.Continue
	}
}

// watch follows the namespace from resource version rv until ctx ends or the watch cannot
// resume (the version is too old: list again).
func (t *term) watch(ctx context.Context, client corev1client.EventInterface, ns, rv string, seen map[types.UID]string) {
	var retry backoff
	for ctx.Err() == nil {
		// A randomised timeout, as client-go's reflector, so the watches of many clients do
		// not end together.
		timeout := int64(300 + rand.IntN(300))
		w, err := client.Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true, TimeoutSeconds: &timeout})
		if err != nil {
			if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
				return
			}
			if ctx.Err() != nil || !t.retry(ctx, &retry, "cannot watch events", ns, err) {
				return
			}
			continue
		}
		t.lastErr.Store(nil)
		began := time.Now()
		relist := false
		var failed error
		for e := range w.ResultChan() {
			switch e.Type {
			case watch.Added, watch.Modified:
				ev, ok := e.Object.(*corev1.Event)
				if !ok {
					continue
				}
				rv = ev.ResourceVersion
				if !t.handle(ctx, ev, seen) {
					w.Stop()
					return
				}
			case watch.Deleted:
				if ev, ok := e.Object.(*corev1.Event); ok {
					rv = ev.ResourceVersion
					delete(seen, ev.UID)
				}
			case watch.Bookmark:
				if m, err := meta.Accessor(e.Object); err == nil {
					rv = m.GetResourceVersion()
				}
			case watch.Error:
				err := apierrors.FromObject(e.Object)
				switch {
				case apierrors.IsResourceExpired(err) || apierrors.IsGone(err):
					relist = true
				default:
					failed = err
				}
			}
			if relist || failed != nil {
				break
			}
		}
		w.Stop()
		switch {
		case relist || ctx.Err() != nil:
			return
		case failed != nil:
			if !t.retry(ctx, &retry, "event watch failed, watching again", ns, failed) {
				return
			}
		case time.Since(began) < time.Second:
			// Not a watch that ran its course: do not hammer the API server.
			if !retry.wait(ctx) {
				return
			}
		default:
			retry.reset()
		}
	}
}

// handle hands over the line of a new version of an event; it returns false when ctx ended
// before the batcher took it.
func (t *term) handle(ctx context.Context, ev *corev1.Event, seen map[types.UID]string) bool {
	t.metrics.received.Inc()
	if seen[ev.UID] == ev.ResourceVersion {
		t.metrics.skipped.WithLabelValues(skipUnchanged).Inc()
		return true
	}
	seen[ev.UID] = ev.ResourceVersion
	if ev.InvolvedObject.Name == "" {
		t.metrics.skipped.WithLabelValues(skipNoObject).Inc()
		return true
	}
	at := eventTime(ev)
	if !t.cutoff.IsZero() && at.Before(t.cutoff) {
		t.metrics.skipped.WithLabelValues(skipDelivered).Inc()
		return true
	}
	return t.send(ctx, ev.InvolvedObject.Namespace, at, formatLine(ev, t.args.LogFormat))
}

// send hands one line to the batcher, with the progress it may carry (see term).
func (t *term) send(ctx context.Context, namespace string, at time.Time, line string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	ls, ok := t.labels[namespace]
	if !ok {
		ls = labelsFor(t.args.JobName, t.id, namespace)
		t.labels[namespace] = ls
	}
	t.newest = max(t.newest, at.UnixNano())
	c := t.out.Chunk()
	c.Stream = &t.stream
	if t.listing == 0 {
		c.At = t.newest
	}
	c.Entries = append(c.Entries, pipeline.LogEntry{Labels: ls, Timestamp: at, Line: line})
	c.Bytes = len(line)
	return t.out.Send(ctx, c)
}

func (t *term) beginListing() {
	t.mu.Lock()
	t.listing++
	t.mu.Unlock()
}

// endListing ends a namespace's list; the last one to end hands over a chunk without lines
// that carries the newest time handed over. It returns false when ctx ended first.
func (t *term) endListing(ctx context.Context) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.listing--
	if t.listing > 0 || t.newest == 0 {
		return true
	}
	c := t.out.Chunk()
	c.Stream = &t.stream
	c.At = t.newest
	return t.out.Send(ctx, c)
}

// committed is the batcher's Committed callback: the Lease carries the new mark from the
// next renewal on.
func (t *term) committed() {
	n := t.stream.State().Committed
	if n <= 0 {
		return
	}
	t.lock.raise(time.Unix(0, n))
	t.metrics.mark.Set(float64(t.lock.Mark().UnixNano()) / 1e9)
}

// retry records a failed list or watch of namespace ns, logs it with msg and waits before
// the next try; it returns false when ctx ended first.
func (t *term) retry(ctx context.Context, b *backoff, msg, ns string, err error) bool {
	t.lastErr.Store(&errorHolder{err})
	t.logger.Warn(msg, "namespace", ns, "err", err, "retry_in", b.next())
	return b.wait(ctx)
}

// backoff is the wait before trying a failed request again: retryMin, doubling up to
// retryMax, until reset.
type backoff struct{ d time.Duration }

func (b *backoff) next() time.Duration { return max(b.d, retryMin) }

// wait sleeps the next wait (or until ctx ends, then false) and doubles it.
func (b *backoff) wait(ctx context.Context) bool {
	d := b.next()
	b.d = min(2*d, retryMax)
	return sleep(ctx, d)
}

func (b *backoff) reset() { b.d = 0 }

// err returns the last failed list or watch, or nil after a success.
func (t *term) err() error {
	if h := t.lastErr.Load(); h != nil {
		return h.err
	}
	return nil
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}
