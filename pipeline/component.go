// Package pipeline is sonde's component-graph runtime: the component contract, the registry,
// graph validation, the controller that applies and hot-reloads a configuration, health, and
// the edge types components exchange. It imports nothing from the component folders.
package pipeline

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
)

// Component is one running node of the graph.
//
// Run owns every goroutine the component starts and returns only after they have ended.
// The context is the only stop signal: when it is cancelled the component flushes what it
// holds (sinks drain their queues) and returns. A non-nil error returned before the context
// ends marks the component unhealthy; the controller restarts it with backoff.
type Component interface {
	Run(ctx context.Context) error
}

// Updater is implemented by components that can apply new arguments in place. Update may be
// called concurrently with Run; it must not block for long. A component that does not
// implement Updater is restarted when its arguments change.
type Updater interface {
	Update(args Arguments) error
}

// Arguments are what the user writes for one component: a plain struct with yaml tags.
// The registry's Args function returns a pointer to a struct filled with defaults; the
// config loader decodes the user's YAML into it strictly and then calls Validate.
type Arguments interface {
	// Validate checks the arguments; errors should be *FieldError (see Field) so that the
	// loader can point at the file and line of the offending field.
	Validate() error
}

// Referencer is implemented by Arguments that refer to other components. The controller
// uses the references to validate the graph (the referenced component exists and exports
// the right kind) and to order start and stop.
type Referencer interface {
	References() []Reference
}

// Reference is one edge declared in a component's arguments.
type Reference struct {
	Field string   `json:"field"` // YAML path of the list, e.g. "forward_to" or "targets"
	Kind  EdgeKind `json:"kind"`  // what the referenced components must export
	IDs   []string `json:"ids"`   // referenced component ids, in the order written
}

// EdgeKind names the kind of data flowing along an edge.
type EdgeKind string

// Edge kinds.
const (
	// KindMetrics: the referenced component accepts samples (it exports a storage.Appendable).
	KindMetrics EdgeKind = "metrics"
	// KindTargets: the referenced component publishes target sets.
	KindTargets EdgeKind = "targets"
)

// Options is what the controller injects into a component; the user does not write it.
type Options struct {
	ID         string       // "prometheus.scrape/pods"
	Logger     *slog.Logger // tagged with component=ID
	Registerer prometheus.Registerer
	// DataPath is a directory reserved for this component under --storage.path, created on
	// demand by the component. It stays the same across restarts and reloads.
	DataPath string
	// Health lets the component report its state; the controller reports run errors itself.
	Health *Health
	// Host resolves references to other components behind stable handles: a component keeps
	// what it resolves for as long as its arguments do not change, even when the referenced
	// components are restarted.
	Host Host
	// ServerAddr is the host:port of sonde's own HTTP server; components whose data is
	// scraped in process (exporters) publish targets pointing at it.
	ServerAddr string
	// HTTPPath is the URL path prefix under which the component's Handler (see HTTPProvider)
	// is served, e.g. "/api/v1/components/prometheus.exporter.unix/host/". Ends with "/".
	HTTPPath string
	// PublishTargets replaces the full target set this component exports (for components whose
	// registration exports KindTargets). Safe for concurrent use; the slice must not be
	// modified afterwards.
	PublishTargets func(Targets)
}

// HTTPProvider is implemented by components that serve HTTP under Options.HTTPPath.
// The handler sees request paths relative to that prefix (the prefix is stripped).
type HTTPProvider interface {
	Handler() http.Handler
}

// MetricsReceiver is implemented by components whose registration exports KindMetrics.
// The returned Appendable must stay valid for the life of the component. Series refs its
// appenders return must be below 1<<48 (the controller stamps the top bits so that a ref
// cached by a caller never reaches a restarted instance); larger refs are not cached.
type MetricsReceiver interface {
	Appendable() Appendable
}
