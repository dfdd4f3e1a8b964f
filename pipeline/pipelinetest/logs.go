package pipelinetest

import (
	"context"
	"sync"

	"github.com/sondehq/sonde/pipeline"
)

// LogsSink is a LogsReceiver that records every entry. By default it acknowledges each batch
// at once; with Hold set, batches wait in Held until the test acknowledges them.
type LogsSink struct {
	mu      sync.Mutex
	entries []pipeline.LogEntry
	held    []pipeline.LogBatch
	hold    bool
}

// NewLogsSink returns an empty sink that acknowledges immediately.
func NewLogsSink() *LogsSink { return &LogsSink{} }

// Hold makes the sink keep batches unacknowledged until AckHeld.
func (s *LogsSink) Hold(hold bool) {
	s.mu.Lock()
	s.hold = hold
	s.mu.Unlock()
}

// ConsumeLogs implements pipeline.LogsReceiver.
func (s *LogsSink) ConsumeLogs(ctx context.Context, b pipeline.LogBatch) error {
	s.mu.Lock()
	s.entries = append(s.entries, b.Entries...)
	hold := s.hold
	if hold {
		s.held = append(s.held, b)
	}
	s.mu.Unlock()
	if !hold {
		b.Ack(nil)
	}
	return nil
}

// AckHeld acknowledges every held batch with err and returns how many there were.
func (s *LogsSink) AckHeld(err error) int {
	s.mu.Lock()
	held := s.held
	s.held = nil
	s.mu.Unlock()
	for _, b := range held {
		b.Ack(err)
	}
	return len(held)
}

// Entries returns a copy of everything received.
func (s *LogsSink) Entries() []pipeline.LogEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]pipeline.LogEntry(nil), s.entries...)
}
