package pipelinetest

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
)

// LogBuffer is where a test's logger writes, so that the test can read what a component
// logged: an io.Writer that the component's goroutines may write to at once.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything logged so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Count returns how many times s occurs in what was logged so far.
func (l *LogBuffer) Count(s string) int { return strings.Count(l.String(), s) }

// Logger returns a logger that writes to l in slog's text format, from level up.
func (l *LogBuffer) Logger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: level}))
}
