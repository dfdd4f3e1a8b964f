package loki

import (
	"errors"
	"time"

	"github.com/prometheus/common/model"

	"github.com/sondehq/sonde/pipeline"
)

// Arguments configure otelcol.exporter.loki.
//
//	otelcol.exporter.loki/default:
//	  forward_to: [loki.write/default]
//
// Records are mapped the way Loki's own OTLP endpoint maps them: the resource attributes of
// DefaultLabelAttributes (service.name, k8s.namespace.name, k8s.pod.name, …) become stream
// labels with dots turned into underscores, every other resource attribute, the record's
// attributes, trace_id, span_id, severity_text and the scope name become structured
// metadata, and the body becomes the line (maps and lists as JSON).
type Arguments struct {
	// ForwardTo are components accepting log batches (loki.write, loki.process).
	ForwardTo []string `yaml:"forward_to"`
	// LabelAttributes replaces the resource attributes that become labels.
	LabelAttributes []string `yaml:"label_attributes,omitempty"`
	// AckTimeout bounds how long an OTLP request waits for its records to be delivered to
	// Loki; past it the sender is asked to retry (503 / UNAVAILABLE).
	AckTimeout model.Duration `yaml:"ack_timeout"`
}

// DefaultLabelAttributes are Loki's default resource attributes for index labels
// (distributor.otlp_config.default_resource_attributes_as_index_labels).
var DefaultLabelAttributes = []string{
	"service.name", "service.namespace", "service.instance.id",
	"deployment.environment", "deployment.environment.name",
	"cloud.region", "cloud.availability_zone", "k8s.cluster.name",
	"k8s.namespace.name", "k8s.pod.name", "k8s.container.name", "container.name",
	"k8s.replicaset.name", "k8s.deployment.name", "k8s.statefulset.name",
	"k8s.daemonset.name", "k8s.cronjob.name", "k8s.job.name",
}

// DefaultArguments returns Arguments with their defaults.
func DefaultArguments() *Arguments {
	return &Arguments{AckTimeout: model.Duration(30 * time.Second)}
}

// References implements pipeline.Referencer.
func (a *Arguments) References() []pipeline.Reference {
	return []pipeline.Reference{{Field: "forward_to", Kind: pipeline.KindLogs, IDs: a.ForwardTo}}
}

// Validate implements pipeline.Arguments.
func (a *Arguments) Validate() error {
	var errs []error
	if len(a.ForwardTo) == 0 {
		errs = append(errs, pipeline.Field("forward_to", "at least one component is required"))
	}
	if a.AckTimeout <= 0 {
		errs = append(errs, pipeline.Field("ack_timeout", "must be positive, got %s", a.AckTimeout))
	}
	return errors.Join(errs...)
}
