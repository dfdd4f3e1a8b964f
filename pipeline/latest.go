package pipeline

import "sync"

// Latest is how a component's Update hands new arguments to its Run loop: Update stores
// them, Run loads the newest and waits on Changed. Store never blocks; stores that come
// before Run looks leave one wake-up and the newest value. Values are replaced, never
// modified, so what Load returns can be read without a lock.
type Latest[T any] struct {
	mu      sync.Mutex
	v       T
	changed chan struct{}
}

// NewLatest returns a Latest holding v, with no wake-up pending.
func NewLatest[T any](v T) *Latest[T] {
	return &Latest[T]{v: v, changed: make(chan struct{}, 1)}
}

// Store replaces the value and wakes the reader.
func (l *Latest[T]) Store(v T) {
	l.mu.Lock()
	l.v = v
	l.mu.Unlock()
	select {
	case l.changed <- struct{}{}:
	default:
	}
}

// Load returns the newest value.
func (l *Latest[T]) Load() T {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.v
}

// Changed receives once after one or more Stores.
func (l *Latest[T]) Changed() <-chan struct{} { return l.changed }
