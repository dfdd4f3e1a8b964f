package pipeline

import (
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/storage"
)

// Appendable is the metrics edge: Prometheus' own storage.Appendable, so samples cross no
// conversion between scrape, relabel and remote write.
type Appendable = storage.Appendable

// Targets is a full snapshot of target label sets, each one merged (the group's labels and
// the target's own, including __address__ and __meta_* labels), as Prometheus discovery
// produces them. Publishers always send the whole set; consumers never see deltas.
type Targets []model.LabelSet

// TargetsView is a consumer's view of the union of the targets published by one or more
// components.
type TargetsView interface {
	// Get returns the current union, in reference order. The result must not be modified.
	Get() Targets
	// Changed is signalled (without blocking, coalesced) whenever any referenced publisher
	// publishes; read Get afterwards.
	Changed() <-chan struct{}
	// Close releases the view's subscriptions.
	Close()
}

// Host resolves references to stable handles.
type Host interface {
	// Appendable returns one Appendable that fans out to the given components in order.
	Appendable(ids []string) Appendable
	// Targets returns a view of the targets published by the given components.
	Targets(ids []string) TargetsView
	// Logs returns one LogsReceiver that fans out to the given components.
	Logs(ids []string) LogsReceiver
}
