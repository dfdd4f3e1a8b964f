package pipeline

import (
	"sync"
	"time"
)

// HealthState is the coarse state of a component.
type HealthState string

// Health states.
const (
	HealthStarting    HealthState = "starting"
	HealthHealthy     HealthState = "healthy"
	HealthUnhealthy   HealthState = "unhealthy"
	HealthUnavailable HealthState = "unavailable" // e.g. no GPU on this node: not an error
	HealthStopped     HealthState = "stopped"
)

// HealthStatus is a snapshot of a component's health.
type HealthStatus struct {
	State     HealthState `json:"state"`
	Message   string      `json:"message,omitempty"`
	UpdatedAt time.Time   `json:"updated_at"`
}

// Health is a component's health, safe for concurrent use.
type Health struct {
	mu sync.Mutex
	s  HealthStatus
}

// NewHealth returns a Health in the starting state.
func NewHealth() *Health {
	return &Health{s: HealthStatus{State: HealthStarting, UpdatedAt: time.Now()}}
}

// Set records a new state; repeated identical reports keep the original timestamp.
func (h *Health) Set(state HealthState, msg string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.s.State == state && h.s.Message == msg {
		return
	}
	h.s = HealthStatus{State: state, Message: msg, UpdatedAt: time.Now()}
}

// Get returns the current status.
func (h *Health) Get() HealthStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.s
}
