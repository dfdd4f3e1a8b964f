package journal

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sondehq/sonde/internal/logbatch"
	"github.com/sondehq/sonde/pipeline"
)

// Bounds of the reader: an entry (one line of JSON) larger than maxEntryBytes is skipped;
// a chunk is handed to the batcher at chunkEntries entries or chunkBytes of lines, or as
// soon as journalctl has nothing more buffered.
const (
	maxEntryBytes = 8 << 20
	chunkEntries  = 512
	chunkBytes    = 256 << 10
	stderrBytes   = 2048
)

// follower runs journalctl again and again until ctx ends, each time after the last entry
// read.
type follower struct {
	c      *Component
	out    *logbatch.Batcher[position]
	labels *labeler
	path   string
	isFile bool
	since  time.Time // where to start when there is no cursor
	after  string    // the cursor of the last entry read (or saved); "" for none
	n      uint64    // entries read since Run started
}

// loop runs journalctl until ctx ends, restarting it with backoff when it exits.
func (f *follower) loop(ctx context.Context) {
	failures := 0
	retry := retryMin
	for ctx.Err() == nil {
		read, ran, err := f.run(ctx)
		if ctx.Err() != nil {
			return
		}
		f.c.metrics.exits.Inc()
		if read > 0 || ran >= healthyAfter {
			failures, retry = 0, retryMin
		}
		failures++
		msg := err.Error()
		f.c.setStatus(func(s *Info) { s.Running, s.Failures, s.LastError, s.Command = false, failures, msg, nil })
		var notFound *notFoundError
		switch {
		case errors.As(err, &notFound):
			f.c.opts.Health.Set(pipeline.HealthUnhealthy, msg)
		case failures >= failThreshold:
			f.c.opts.Health.Set(pipeline.HealthUnhealthy, fmt.Sprintf("journalctl exited %d times in a row: %s", failures, msg))
		}
		if failures == 1 || failures == failThreshold {
			f.c.opts.Logger.Error("journalctl exited; starting it again", "err", err, "failures", failures, "retry_in", retry)
		}
		if read == 0 && f.after != "" && strings.Contains(err.Error(), "cursor") {
			// The cursor is refused (a journal rotated away, a damaged cursor file): reading
			// from max_age again is the best left (entries may be sent twice).
			f.c.opts.Logger.Warn("journalctl refused the cursor; reading from max_age", "cursor", f.after, "since", f.since)
			f.after = ""
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
		retry = min(2*retry, retryMax)
	}
}

// notFoundError is journalctl missing.
type notFoundError struct{ err error }

func (e *notFoundError) Error() string { return e.err.Error() }

// args returns journalctl's arguments.
func (f *follower) args() []string {
	args := []string{"--output=json", "--all", "--follow", "--no-tail", "--no-pager", "--quiet", "--merge"}
	if f.isFile {
		args = append(args, "--file="+f.path)
	} else {
		args = append(args, "--directory="+f.path)
	}
	if f.after != "" {
		args = append(args, "--after-cursor="+f.after)
	} else {
		args = append(args, "--since=@"+strconv.FormatInt(f.since.Unix(), 10))
	}
	return append(args, f.c.args.matches()...)
}

// run runs journalctl once, until it exits or ctx ends, and hands what it reads to the
// batcher. It returns how many entries it read, how long it ran, and why it ended.
func (f *follower) run(ctx context.Context) (read int, ran time.Duration, err error) {
	bin, err := exec.LookPath(f.c.args.Journalctl)
	if err != nil {
		return 0, 0, &notFoundError{fmt.Errorf("journalctl not found (journalctl: %q): %w; sonde reads the journal through systemd's journalctl, which must be installed where it runs", f.c.args.Journalctl, err)}
	}
	args := f.args()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	stderr := &tailBuffer{max: stderrBytes}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, fmt.Errorf("start %s: %w", bin, err)
	}
	f.c.setStatus(func(s *Info) { s.Running, s.Command = true, append([]string{bin}, args...) })

	// Healthy once journalctl ran healthyAfter or read an entry.
	var healthy atomic.Bool
	markHealthy := func() {
		if !healthy.Swap(true) {
			f.c.setStatus(func(s *Info) { s.Failures, s.LastError = 0, "" })
			f.c.opts.Health.Set(pipeline.HealthHealthy, "following "+f.path)
		}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-done:
		case <-time.After(healthyAfter):
			markHealthy()
		}
	})
	read = f.read(ctx, stdout, markHealthy)
	close(done)
	wg.Wait()
	// Stop journalctl if reading stopped first (ctx ended during a Send).
	_ = cmd.Cancel()
	waitErr := cmd.Wait()
	ran = time.Since(start)
	if ctx.Err() != nil {
		return read, ran, ctx.Err()
	}
	msg := "journalctl exited"
	if waitErr != nil {
		msg = "journalctl: " + waitErr.Error()
	}
	if s := strings.TrimSpace(stderr.String()); s != "" {
		msg += ": " + s
	}
	return read, ran, errors.New(msg)
}

// read reads journalctl's output until it ends or ctx ends, handing entries to the batcher
// in chunks; it returns how many entries it read.
func (f *follower) read(ctx context.Context, r io.Reader, onEntry func()) int {
	m := f.c.metrics
	br := bufio.NewReaderSize(r, 64<<10)
	var buf []byte
	read := 0
	ch := f.out.Chunk()
	var at position // the chunk's progress; zero while it has none
	flush := func() bool {
		if at.n == 0 && len(ch.Entries) == 0 {
			return true
		}
		ch.Stream, ch.At = &f.c.stream, at
		if !f.out.Send(ctx, ch) {
			return false
		}
		if at.n != 0 {
			f.after = at.cursor
		}
		ch, at = f.out.Chunk(), position{}
		return true
	}
	for {
		line, tooLong, err := readLine(br, &buf)
		if len(line) > 0 || tooLong {
			read++
			m.read.Inc()
			if read == 1 {
				onEntry()
			}
			f.take(ch, &at, line, tooLong)
		}
		if err != nil {
			flush()
			return read
		}
		if len(ch.Entries) >= chunkEntries || ch.Bytes >= chunkBytes || br.Buffered() == 0 {
			if !flush() {
				return read
			}
		}
	}
}

// take adds the entry of line to ch, moving at to it.
func (f *follower) take(ch *logbatch.Chunk[position], at *position, line []byte, tooLong bool) {
	m := f.c.metrics
	if tooLong {
		m.skipped.WithLabelValues(skipTooLong).Inc()
		return
	}
	rec, err := parseRecord(line)
	if err != nil {
		m.skipped.WithLabelValues(skipMalformed).Inc()
		return
	}
	if rec.binary > 0 {
		m.binary.Add(float64(rec.binary))
	}
	ts, ok := rec.timestamp()
	if !ok {
		ts = time.Now()
	}
	f.n++
	*at = position{n: f.n, cursor: rec.fields[fieldCursor], time: ts}
	text, ok := rec.line(f.c.args.FormatAsJSON)
	if !ok {
		m.skipped.WithLabelValues(skipNoMessage).Inc()
		return
	}
	ch.Entries = append(ch.Entries, pipeline.LogEntry{Labels: f.labels.labels(rec), Timestamp: ts, Line: text})
	ch.Bytes += len(text)
}

// readLine returns the next line (without its newline) in *buf, reusing it; tooLong when
// the line exceeded maxEntryBytes (it is then consumed and dropped). err is io.EOF or a
// read error once the output ends.
func readLine(br *bufio.Reader, buf *[]byte) (line []byte, tooLong bool, err error) {
	*buf = (*buf)[:0]
	for {
		frag, err := br.ReadSlice('\n')
		if !tooLong {
			if len(*buf)+len(frag) > maxEntryBytes {
				tooLong, *buf = true, (*buf)[:0]
			} else {
				*buf = append(*buf, frag...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if tooLong {
			return nil, true, err
		}
		return bytes.TrimRight(*buf, "\r\n"), false, err
	}
}

// tailBuffer keeps the last max bytes written to it (journalctl's stderr).
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
