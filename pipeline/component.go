// Package pipeline is sonde's component-graph runtime: the component contract, the registry,
// graph validation, the controller that applies and hot-reloads a configuration, health, and
// the edge types components exchange. It imports nothing from the component folders.
package pipeline

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sondehq/sonde/internal/kube"
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

// Options is what the controller injects into a component; the user does not write it.
type Options struct {
	ID     string       // "prometheus.scrape/pods"
	Logger *slog.Logger // tagged with component=ID
	// Registerer is where the component registers its own metrics, in New, so that a
	// registration error fails the build. It adds the label component_id; the controller
	// unregisters everything registered through it when the instance is rebuilt, replaced
	// or removed, so components never unregister themselves.
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
	// Kube is the process's Kubernetes client and informer cache; shared by every component.
	Kube *kube.Cache
}

// HTTPProvider is implemented by components that serve HTTP under Options.HTTPPath.
// The handler sees request paths relative to that prefix (the prefix is stripped).
type HTTPProvider interface {
	Handler() http.Handler
}

// DebugInfoProvider is implemented by components that can describe their inner state for
// the UI and GET /api/v1/components/<id>: a log source its files (offset, lag, rotation),
// a writer its queue, WAL size, last error and retries, a scraper its targets. DebugInfo is
// called from HTTP handlers, concurrently with Run; the result is encoded as JSON.
type DebugInfoProvider interface {
	DebugInfo() any
}
