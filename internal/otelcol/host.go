package otelcol

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
)

// Extension IDs under which Host offers sonde's extensions to the collector's components.
var (
	BearerTokenID = component.MustNewID("sonde_bearertoken")
	ServerID      = component.MustNewID("sonde_server")
	ClientID      = component.MustNewID("sonde_client")
	FileStorageID = component.MustNewID("sonde_file_storage")
)

// Host is the component.Host the collector's components start under.
type Host struct {
	// Extensions are looked up by the collector's config helpers (auth, middlewares,
	// sending_queue storage).
	Extensions map[component.ID]component.Component
	// OnStatus, when set, receives the status events components report (a server that
	// stopped serving reports a fatal error event).
	OnStatus func(*componentstatus.Event)
}

var (
	_ component.Host           = (*Host)(nil)
	_ componentstatus.Reporter = (*Host)(nil)
)

// GetExtensions implements component.Host.
func (h *Host) GetExtensions() map[component.ID]component.Component { return h.Extensions }

// Report implements componentstatus.Reporter.
func (h *Host) Report(e *componentstatus.Event) {
	if h.OnStatus != nil {
		h.OnStatus(e)
	}
}

// lifecycle gives the extensions below the Start and Shutdown of a component.Component:
// they hold nothing that needs starting.
type lifecycle struct{}

func (lifecycle) Start(context.Context, component.Host) error { return nil }
func (lifecycle) Shutdown(context.Context) error              { return nil }
