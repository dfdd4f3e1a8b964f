package process

import (
	"errors"
	"sync"
	"time"

	"github.com/grafana/regexp"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/sondehq/sonde/pipeline"
)

// MultilineConfig configures the multiline stage, which joins the lines of one stream into
// blocks (a stack trace and the line that announced it), each block starting with a line
// that matches FirstLine. It holds lines back: a batch is acknowledged only once every
// block holding one of its lines has been delivered.
//
//   - multiline:
//     firstline: '^\d{4}-\d{2}-\d{2}'
//     max_wait_time: 3s
//     max_lines: 128
//
// Put it first: values extracted before it are not carried into the block (the block is a
// new entry with the labels, structured metadata and timestamp of its first line).
type MultilineConfig struct {
	// FirstLine is an RE2 regular expression matching the first line of a block.
	FirstLine string `yaml:"firstline"`
	// MaxWaitTime is the longest a block waits for its next line (0: 3s).
	MaxWaitTime model.Duration `yaml:"max_wait_time,omitempty"`
	// MaxLines is the most lines a block holds; a full block is sent (0: 128).
	MaxLines int `yaml:"max_lines,omitempty"`
}

// Multiline defaults, applied when the fields are left out (list items cannot carry
// defaults of their own).
const (
	DefaultMultilineMaxWait  = 3 * time.Second
	DefaultMultilineMaxLines = 128
)

type multilineConfig struct {
	re       *regexp.Regexp
	maxWait  time.Duration
	maxLines int
}

func (c *MultilineConfig) compile() (*multilineConfig, error) {
	var errs []error
	out := &multilineConfig{maxWait: time.Duration(c.MaxWaitTime), maxLines: c.MaxLines}
	if c.FirstLine == "" {
		errs = append(errs, pipeline.Field("firstline", "required"))
	} else if re, err := regexp.Compile(c.FirstLine); err != nil {
		errs = append(errs, pipeline.Field("firstline", "%v", err))
	} else {
		out.re = re
	}
	if c.MaxWaitTime < 0 {
		errs = append(errs, pipeline.Field("max_wait_time", "must not be negative"))
	}
	if c.MaxLines < 0 {
		errs = append(errs, pipeline.Field("max_lines", "must not be negative"))
	}
	if out.maxWait == 0 {
		out.maxWait = DefaultMultilineMaxWait
	}
	if out.maxLines == 0 {
		out.maxLines = DefaultMultilineMaxLines
	}
	return out, errors.Join(errs...)
}

// block is a multiline block being built, or complete and waiting to be sent.
type block struct {
	labels   model.LabelSet
	sm       labels.Labels
	ts       time.Time
	line     []byte
	lines    int
	started  time.Time // arrival of the first line, for max_wait_time
	trackers []*tracker
}

func (b *block) entry() pipeline.LogEntry {
	return pipeline.LogEntry{Labels: b.labels, Timestamp: b.ts, Line: string(b.line), StructuredMetadata: b.sm}
}

// multiline holds the open blocks of every stream. Complete blocks go to the ready queue
// (see readyQueue), from which they are sent in order.
type multiline struct {
	cfg *multilineConfig

	mu      sync.Mutex
	streams map[uint64]*block
	held    int  // lines in open blocks
	closed  bool // no more blocks are opened: every line is its own block
}

func newMultiline(cfg *multilineConfig) *multiline {
	return &multiline{cfg: cfg, streams: map[uint64]*block{}}
}

// add appends the entry e (after the stages before multiline) to its stream's block;
// complete blocks are appended to ready. tr is the tracker of e's batch.
func (m *multiline) add(e *pipeline.LogEntry, hash uint64, tr *tracker, now time.Time, ready *readyQueue) {
	first := m.cfg.re.MatchString(e.Line)
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.streams[hash]
	if b != nil && (first || !b.labels.Equal(e.Labels)) {
		m.emit(hash, b, ready)
		b = nil
	}
	if b == nil {
		b = &block{labels: e.Labels, sm: e.StructuredMetadata, ts: e.Timestamp, started: now}
		if !m.closed {
			m.streams[hash] = b
		}
	} else {
		b.line = append(b.line, '\n')
	}
	b.line = append(b.line, e.Line...)
	b.lines++
	m.held++
	if n := len(b.trackers); n == 0 || b.trackers[n-1] != tr {
		tr.retain()
		b.trackers = append(b.trackers, tr)
	}
	if m.closed || b.lines >= m.cfg.maxLines {
		m.emit(hash, b, ready)
	}
}

// emit moves b from the open blocks to ready. m.mu is held.
func (m *multiline) emit(hash uint64, b *block, ready *readyQueue) {
	if m.streams[hash] == b {
		delete(m.streams, hash)
	}
	m.held -= b.lines
	ready.push(b)
}

// expire emits the blocks that have waited max_wait_time; all of them when closing.
func (m *multiline) expire(now time.Time, closing bool, ready *readyQueue) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if closing {
		m.closed = true
	}
	for h, b := range m.streams {
		if closing || now.Sub(b.started) >= m.cfg.maxWait {
			m.emit(h, b, ready)
		}
	}
}

// heldLines returns the number of lines in open blocks.
func (m *multiline) heldLines() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.held
}

// readyQueue holds complete blocks in the order they completed. It is a leaf lock: nothing
// else is locked while it is held.
type readyQueue struct {
	mu     sync.Mutex
	blocks []*block
}

func (q *readyQueue) push(b *block) {
	q.mu.Lock()
	q.blocks = append(q.blocks, b)
	q.mu.Unlock()
}

// take removes and returns every ready block.
func (q *readyQueue) take() []*block {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.blocks
	q.blocks = nil
	return out
}

// putBack returns blocks that could not be sent to the front of the queue.
func (q *readyQueue) putBack(bs []*block) {
	if len(bs) == 0 {
		return
	}
	q.mu.Lock()
	q.blocks = append(bs, q.blocks...)
	q.mu.Unlock()
}

func (q *readyQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.blocks)
}

// tracker acknowledges an incoming batch once every reference to it is released: the
// ConsumeLogs call that received it, and each block holding one of its lines.
type tracker struct {
	mu       sync.Mutex
	refs     int
	err      error
	canceled bool
	ack      func(error)
}

func newTracker(ack func(error)) *tracker { return &tracker{refs: 1, ack: ack} }

func (t *tracker) retain() {
	t.mu.Lock()
	t.refs++
	t.mu.Unlock()
}

// release drops one reference; err (delivery failed for good) is passed on to the Ack.
func (t *tracker) release(err error) {
	t.mu.Lock()
	if err != nil && t.err == nil {
		t.err = err
	}
	t.refs--
	done := t.refs == 0 && !t.canceled
	t.mu.Unlock()
	if done {
		t.ack(t.err)
	}
}

// cancel drops the ConsumeLogs reference of a batch that was not accepted: it will never be
// acknowledged (its sender sends it again).
func (t *tracker) cancel() {
	t.mu.Lock()
	t.canceled = true
	t.mu.Unlock()
	t.release(nil)
}
