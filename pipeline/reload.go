package pipeline

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Loader reads and validates the configuration; source names where it came from.
type Loader func() (source string, specs []Spec, err error)

// ReloadStatus describes the last reload attempt.
type ReloadStatus struct {
	Time    time.Time `json:"time"`
	Trigger string    `json:"trigger"` // "startup", "SIGHUP", "http", "file change"
	Source  string    `json:"source"`
	Success bool      `json:"success"`
	Error   string    `json:"error,omitempty"`
}

// Reloader loads the configuration and applies it to a controller, one reload at a time,
// remembering the outcome. A configuration that fails to load or validate changes nothing.
type Reloader struct {
	c    *Controller
	load Loader

	mu   sync.Mutex
	last ReloadStatus

	total       *prometheus.CounterVec
	lastSuccess prometheus.Gauge
	lastSuccTS  prometheus.Gauge
}

// NewReloader returns a Reloader; its metrics are registered on reg.
func NewReloader(c *Controller, load Loader, reg prometheus.Registerer) *Reloader {
	r := &Reloader{
		c:    c,
		load: load,
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_config_reloads_total", Help: "Configuration reloads by result (success, failure).",
		}, []string{"result"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sonde_config_last_reload_successful", Help: "Whether the last configuration reload succeeded (1) or not (0).",
		}),
		lastSuccTS: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sonde_config_last_reload_success_timestamp_seconds", Help: "Time of the last successful configuration reload.",
		}),
	}
	if reg != nil {
		reg.MustRegister(r.total, r.lastSuccess, r.lastSuccTS)
	}
	return r
}

// Reload loads and applies the configuration. trigger says what asked for it.
func (r *Reloader) Reload(trigger string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	source, specs, err := r.load()
	if err == nil {
		err = r.c.Apply(specs)
	}
	st := ReloadStatus{Time: time.Now(), Trigger: trigger, Source: source, Success: err == nil}
	if err != nil {
		st.Error = err.Error()
		r.total.WithLabelValues("failure").Inc()
		r.lastSuccess.Set(0)
	} else {
		r.total.WithLabelValues("success").Inc()
		r.lastSuccess.Set(1)
		r.lastSuccTS.SetToCurrentTime()
	}
	r.last = st
	return err
}

// Status returns the outcome of the last reload.
func (r *Reloader) Status() ReloadStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}
