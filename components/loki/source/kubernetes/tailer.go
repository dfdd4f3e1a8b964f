package kubernetes

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubeclient "k8s.io/client-go/kubernetes"

	"github.com/sondehq/sonde/internal/logbatch"
	"github.com/sondehq/sonde/pipeline"
)

// Reconnect backoff of a stream (variables for tests), and how long the final read of a
// stream that is no longer wanted may take.
var (
	minBackoff   = time.Second
	maxBackoff   = 30 * time.Second
	drainTimeout = 10 * time.Second
)

// chunkBytes is how many bytes of lines a tailer gathers before handing them over; it
// hands over earlier whenever the stream has nothing more buffered.
const chunkBytes = 64 << 10

// Labels set on entries. The pods/log API merges stdout and stderr into one stream without
// saying which line came from which, so no "stream" label is set.
const (
	labelNamespace = "namespace"
	labelPod       = "pod"
	labelContainer = "container"
	labelJob       = "job"
	metadataUID    = "uid"
)

// stream is one container's log as the reconciler wants it.
type stream struct {
	key            streamKey
	namespace, pod string
}

// tailer follows one container's log through the pods/log API.
//
// It owns the stream's read cursor (position.sent): it reads from it when it (re)connects
// and moves it after each chunk the batcher accepted, so a reconnect or a new tailer for
// the same container resumes right after the last line handed over, without duplicates.
type tailer struct {
	s       stream
	pods    kubeclient.Interface
	pos     *position
	out     *logbatch.Batcher[cursor]
	metrics *metrics
	logger  *slog.Logger
	// refused reports the latest request error that the API server refused
	// (unauthorized, forbidden), or nil once a request succeeds.
	refused func(streamKey, error)

	labels   model.LabelSet
	metadata labels.Labels

	// finish, once closed, asks the tailer to read what the container wrote until now
	// (without following) and return: the container stopped running or the pod went away.
	finish     chan struct{}
	finishOnce sync.Once
}

func newTailer(s stream, pods kubeclient.Interface, pos *position, out *logbatch.Batcher[cursor], m *metrics, logger *slog.Logger, refused func(streamKey, error)) *tailer {
	return &tailer{
		s: s, pods: pods, pos: pos, out: out, metrics: m, refused: refused,
		logger: logger.With("namespace", s.namespace, "pod", s.pod, "container", s.key.Container),
		labels: model.LabelSet{
			labelNamespace: model.LabelValue(s.namespace),
			labelPod:       model.LabelValue(s.pod),
			labelContainer: model.LabelValue(s.key.Container),
			labelJob:       model.LabelValue(s.namespace + "/" + s.pod),
		},
		metadata: labels.FromStrings(metadataUID, string(s.key.UID)),
		finish:   make(chan struct{}),
	}
}

// chunk returns an empty chunk of the stream for the batcher.
func (t *tailer) chunk() *logbatch.Chunk[cursor] {
	c := t.out.Chunk()
	c.Stream = &t.pos.Stream
	return c
}

// stop asks the tailer to finish (see finish). Safe to call twice.
func (t *tailer) stop() { t.finishOnce.Do(func() { close(t.finish) }) }

func (t *tailer) finishing() bool {
	select {
	case <-t.finish:
		return true
	default:
		return false
	}
}

// run follows the stream until ctx ends, or until finish is closed and the rest is read.
func (t *tailer) run(ctx context.Context) {
	defer t.refused(t.s.key, nil)
	backoff := minBackoff
	for first := true; ; first = false {
		if t.finishing() {
			dctx, cancel := context.WithTimeout(ctx, drainTimeout)
			_, err := t.read(dctx, false)
			cancel()
			if err != nil && ctx.Err() == nil && !apierrors.IsNotFound(err) {
				t.logger.Debug("final read of a container log failed", "err", err)
			}
			return
		}
		if !first {
			t.metrics.reconnects.Inc()
		}
		n, err := t.read(ctx, true)
		if ctx.Err() != nil {
			return
		}
		if n > 0 {
			backoff = minBackoff
		}
		if err != nil && !t.finishing() {
			t.logger.Debug("container log stream ended", "err", err, "retry_in", backoff)
		}
		// Jitter spreads the reconnects of many streams cut at once (an API server restart).
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return
		case <-t.finish:
		case <-time.After(wait):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// read opens the stream at the tailer's cursor and reads it until it ends (follow: until the
// container stops, the connection breaks, ctx ends or finish is closed). It returns how many
// new lines it handed over and why it stopped (io.EOF: the stream ended).
func (t *tailer) read(ctx context.Context, follow bool) (int, error) {
	start := t.pos.sentCursor()
	opts := &corev1.PodLogOptions{Container: t.s.key.Container, Follow: follow, Timestamps: true}
	if !start.TS.IsZero() {
		// The API takes whole seconds: lines from the start of that second come back and
		// are skipped below.
		since := metav1.NewTime(start.TS)
		opts.SinceTime = &since
	}
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	if follow {
		wg.Go(func() {
			select {
			case <-t.finish:
				cancel()
			case <-sctx.Done():
			}
		})
	}
	rc, err := t.pods.CoreV1().Pods(t.s.namespace).GetLogs(t.s.pod, opts).Stream(sctx)
	if err != nil {
		if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
			t.metrics.refused.Inc()
			t.refused(t.s.key, err)
		}
		return 0, err
	}
	defer rc.Close()
	t.refused(t.s.key, nil)

	var (
		r         = bufio.NewReaderSize(rc, 64<<10)
		buf       []byte
		cur       = start
		replaying = !start.TS.IsZero()
		seenAtTS  int
		c         = t.chunk()
		sent      int
		read      int
	)
	flush := func() bool {
		t.metrics.linesRead.Add(float64(read))
		read = 0
		n := len(c.Entries)
		if n == 0 {
			return true
		}
		c.At = cur
		if !t.out.Send(ctx, c) {
			return false
		}
		t.pos.setSent(cur)
		sent += n
		c = t.chunk()
		return true
	}
	for {
		var (
			line      []byte
			truncated bool
		)
		line, buf, truncated, err = readLine(r, buf, maxLineBytes)
		if len(line) > 0 {
			read++
			ts, text, ok := parseLine(line)
			switch {
			case !ok:
				t.metrics.dropped.WithLabelValues("malformed").Inc()
			case replaying && ts.Before(start.TS):
				// Sent before the reconnect.
			case replaying && ts.Equal(start.TS) && seenAtTS < start.N:
				seenAtTS++
			default:
				replaying = false
				if truncated {
					t.metrics.truncated.Inc()
				}
				cur = cur.advance(ts)
				c.Entries = append(c.Entries, pipeline.LogEntry{
					// Each entry gets its own label map: a receiver may modify entries in place.
					Labels: t.labels, Timestamp: ts, Line: string(text), StructuredMetadata: t.metadata,
				})
				c.Bytes += len(text)
			}
		}
		if err != nil || c.Bytes >= chunkBytes || r.Buffered() == 0 {
			if !flush() {
				return sent, ctx.Err()
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return sent, io.EOF
			}
			return sent, err
		}
	}
}
