// Package journal implements loki.source.journal: it forwards the entries of the systemd
// journal (kubelet's and containerd's logs on a systemd host) as log lines.
//
// It reads the journal the way the OpenTelemetry Collector's journald receiver does, through
// journalctl as a subprocess (`journalctl --directory=<path> --output=json --all --follow
// --no-tail --merge`), so that sonde needs no cgo and no libsystemd: journalctl must be
// installed where sonde runs (the `journalctl` argument says which). Every line of its
// output is one entry; MESSAGE becomes the line (or the whole entry as JSON with
// format_as_json), __REALTIME_TIMESTAMP the timestamp, and a few fields become labels
// (labels_from_fields; unit and level by default, plus job, as Alloy sets it).
//
// Delivery is at least once: the cursor of the newest entry forward_to acknowledged with
// every entry before it is saved under the component's data directory (cursor.json), and a
// restart resumes with --after-cursor. Entries read but not acknowledged when sonde stops
// (or crashes) are read again: bounded duplicates, no loss. The first start (no cursor, or a
// cursor older than max_age) reads the entries newer than the start less max_age.
//
// When journalctl exits it is started again, with backoff, after the last entry read; the
// component turns unhealthy, with journalctl's stderr, after failThreshold exits in a row,
// and at once when journalctl is not installed.
package journal

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sondehq/sonde/internal/logbatch"
	"github.com/sondehq/sonde/pipeline"
)

// Registration declares loki.source.journal.
var Registration = pipeline.Register("loki.source.journal", DefaultArguments, New)

// Batch limits: a batch is sent when it holds batchBytes of lines, or batchWait after its
// first line.
const batchBytes = 1 << 20

// Timings (variables for tests): the batch wait, the backoff between starts of journalctl,
// how long journalctl must run to count as started well, how often the cursor file is
// written at most.
var (
	batchWait     = time.Second
	retryMin      = time.Second
	retryMax      = 30 * time.Second
	healthyAfter  = 5 * time.Second
	saveInterval  = time.Second
	failThreshold = 3
)

// Component is a running loki.source.journal.
//
// Run owns every goroutine: the follow loop (one journalctl at a time, read on Run's
// goroutine), the batcher, and the cursor saver. Without Update, new arguments restart the
// component (and journalctl, after the saved cursor).
type Component struct {
	opts    pipeline.Options
	args    *Arguments
	metrics *metrics
	job     string

	stream logbatch.Stream[position] // the journal's delivery state
	saveCh chan struct{}             // an acknowledgement moved the committed position

	mu     sync.Mutex
	status Info // what DebugInfo reports

	// flushTimeout, when set, shortens the flush at stop (tests run without a controller).
	flushTimeout time.Duration
}

var _ pipeline.Component = (*Component)(nil)

// New builds a loki.source.journal; it starts nothing.
func New(opts pipeline.Options, args *Arguments) (*Component, error) {
	c := &Component{
		opts:    opts,
		args:    args,
		metrics: newMetrics(),
		// Alloy's job label: the component's full name, loki.source.journal.<name>.
		job:    strings.Replace(opts.ID, "/", ".", 1),
		saveCh: make(chan struct{}, 1),
	}
	if err := c.metrics.register(opts.Registerer); err != nil {
		return nil, err
	}
	return c, nil
}

// Run implements pipeline.Component.
func (c *Component) Run(ctx context.Context) error {
	start := time.Now()
	c.opts.Health.Set(pipeline.HealthStarting, "")
	path, isFile := resolvePath(c.args.Path)
	c.setStatus(func(s *Info) { s.Path = path; s.Journalctl = c.args.Journalctl })

	// Where to start: after the saved cursor, unless it is older than max_age.
	since := start.Add(-time.Duration(c.args.MaxAge))
	saved, bad, err := loadCursor(c.opts.DataPath, path)
	switch {
	case err != nil:
		c.opts.Logger.Error("cannot read the cursor file; reading from max_age", "err", err, "since", since)
	case bad > 0:
		c.opts.Logger.Warn("skipped damaged entries of the cursor file", "bad", bad)
	}
	if saved.Cursor != "" && !saved.Timestamp.IsZero() && saved.Timestamp.Before(since) {
		c.opts.Logger.Info("the saved cursor is older than max_age; reading from max_age", "cursor_time", saved.Timestamp, "since", since)
		saved = savedCursor{}
	}
	c.stream.Restore(position{cursor: saved.Cursor, time: saved.Timestamp})

	out := logbatch.New(logbatch.Config[position]{
		Limits:    func() (int, time.Duration) { return batchBytes, batchWait },
		Less:      positionLess,
		Committed: c.committed,
		Metrics:   logbatch.Metrics{EntriesSent: c.metrics.forwarded, BatchesAcked: c.metrics.batchesAcked},
		Logger:    c.opts.Logger,
	})
	out.SetReceiver(c.opts.Host.Logs(c.args.ForwardTo))

	var wg sync.WaitGroup
	wg.Go(func() { out.Run(ctx) })
	wg.Go(func() { c.saveLoop(ctx, path) })
	c.opts.Logger.Info("following the journal", "path", path, "cursor", saved.Cursor != "", "since", since, "matches", c.args.Matches)
	f := &follower{c: c, out: out, path: path, isFile: isFile, since: since, after: saved.Cursor,
		labels: newLabeler(c.job, c.args.Labels, c.args.LabelsFromFields)}
	f.loop(ctx)
	wg.Wait()

	// Deliver what was read, then save the cursor it reached.
	fctx, cancel := pipeline.FlushContext(ctx)
	defer cancel()
	if c.flushTimeout > 0 {
		var tcancel context.CancelFunc
		fctx, tcancel = context.WithTimeout(fctx, c.flushTimeout)
		defer tcancel()
	}
	out.Finish(fctx)
	c.save(path)
	c.opts.Logger.Info("stopped following the journal", "cursor_time", c.stream.State().Committed.time)
	return nil
}

// resolvePath returns the journal to read and whether it is a file: path, or the default
// directory when path is empty.
func resolvePath(path string) (string, bool) {
	if path == "" {
		if _, err := os.Stat(DefaultPath); err != nil && errors.Is(err, os.ErrNotExist) {
			return FallbackPath, false
		}
		return DefaultPath, false
	}
	fi, err := os.Stat(path)
	return path, err == nil && fi.Mode().IsRegular()
}

// committed is the batcher's Committed callback: it wakes the saver.
func (c *Component) committed() {
	select {
	case c.saveCh <- struct{}{}:
	default:
	}
}

// saveLoop writes the cursor file when the committed position moved, at most once per
// saveInterval, until ctx ends (Run saves once more after the last acknowledgements).
func (c *Component) saveLoop(ctx context.Context, path string) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.saveCh:
		}
		c.save(path)
		select {
		case <-ctx.Done():
			return
		case <-time.After(saveInterval):
		}
	}
}

// save writes the committed position to the cursor file when it changed.
func (c *Component) save(path string) {
	p := c.stream.State().Committed
	c.mu.Lock()
	same := p.cursor == c.status.Cursor
	c.mu.Unlock()
	if p.cursor == "" || same {
		return
	}
	if !p.time.IsZero() {
		c.metrics.delivered.Set(float64(p.time.UnixNano()) / 1e9)
	}
	if err := saveCursor(c.opts.DataPath, path, p); err != nil {
		c.metrics.cursorWrites.WithLabelValues("error").Inc()
		c.opts.Logger.Error("cannot write the cursor file", "err", err)
		return
	}
	c.metrics.cursorWrites.WithLabelValues("success").Inc()
	c.setStatus(func(s *Info) { s.Cursor, s.Delivered = p.cursor, p.time })
}

// Info is what DebugInfo reports.
type Info struct {
	Path       string    `json:"path"`
	Journalctl string    `json:"journalctl"`
	Command    []string  `json:"command,omitempty"` // the running journalctl's arguments
	Running    bool      `json:"running"`
	Failures   int       `json:"failures"` // journalctl's exits in a row
	LastError  string    `json:"last_error,omitempty"`
	Cursor     string    `json:"cursor,omitempty"` // the cursor saved
	Delivered  time.Time `json:"delivered,omitzero"`
}

func (c *Component) setStatus(f func(*Info)) {
	c.mu.Lock()
	f(&c.status)
	c.mu.Unlock()
}

// DebugInfo implements pipeline.DebugInfoProvider.
func (c *Component) DebugInfo() any {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.status
	s.Command = append([]string(nil), s.Command...)
	return s
}
