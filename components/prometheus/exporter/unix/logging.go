package unix

import (
	"context"
	"log/slog"
	"sync"
)

// node_exporter logs "collector failed" at error level on every scrape for as long as a
// collector keeps failing (a missing file, a permission). quietHandler keeps the first
// failure of a collector at warning level and demotes the repeats to debug until that
// collector succeeds again, so a broken collector is reported once, not once per scrape.
// node_scrape_collector_success still reports every scrape.
type quietHandler struct {
	next  slog.Handler
	state *quietState
}

type quietState struct {
	mu      sync.Mutex
	failing map[string]bool // collector name → its last run failed
}

func newQuietHandler(next slog.Handler) *quietHandler {
	return &quietHandler{next: next, state: &quietState{failing: map[string]bool{}}}
}

// Enabled reports true for every level so that Handle sees the "collector succeeded"
// debug records that end a failure streak; Handle forwards only what next accepts.
func (h *quietHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *quietHandler) Handle(ctx context.Context, r slog.Record) error {
	switch r.Message {
	case "collector failed", "collector succeeded":
		var name string
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "name" {
				name = a.Value.String()
				return false
			}
			return true
		})
		failed := r.Message == "collector failed"
		h.state.mu.Lock()
		repeat := h.state.failing[name]
		h.state.failing[name] = failed
		h.state.mu.Unlock()
		if failed {
			level := slog.LevelWarn
			if repeat {
				level = slog.LevelDebug
			}
			r2 := slog.NewRecord(r.Time, level, r.Message, r.PC)
			r.Attrs(func(a slog.Attr) bool { r2.AddAttrs(a); return true })
			r = r2
		}
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h *quietHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &quietHandler{next: h.next.WithAttrs(attrs), state: h.state}
}

func (h *quietHandler) WithGroup(name string) slog.Handler {
	return &quietHandler{next: h.next.WithGroup(name), state: h.state}
}
