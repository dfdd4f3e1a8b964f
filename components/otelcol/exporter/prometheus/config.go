package prometheus

import (
	"errors"

	"github.com/sondehq/sonde/pipeline"
)

// Arguments configure otelcol.exporter.prometheus.
//
//	otelcol.exporter.prometheus/default:
//	  forward_to: [prometheus.remote_write/default]
//	  promote_resource_attributes: [k8s.namespace.name, k8s.pod.name]
//
// The translation is Prometheus' own (the code behind its /api/v1/otlp/write endpoint):
// metric names get unit and type suffixes ("http.server.request.duration" in seconds, a
// histogram → http_server_request_duration_seconds_bucket…), service.name and
// service.instance.id become job and instance, and the other resource attributes go to a
// target_info series.
type Arguments struct {
	// ForwardTo are components accepting samples (prometheus.remote_write, prometheus.relabel).
	ForwardTo []string `yaml:"forward_to"`
	// IncludeTargetInfo writes target_info with the resource attributes (default true).
	IncludeTargetInfo bool `yaml:"include_target_info"`
	// AddMetricSuffixes adds unit and type suffixes to names (default true).
	AddMetricSuffixes bool `yaml:"add_metric_suffixes"`
	// PromoteResourceAttributes become labels of every series of their resource.
	PromoteResourceAttributes []string `yaml:"promote_resource_attributes,omitempty"`
	// PromoteAllResourceAttributes promotes all but IgnoreResourceAttributes.
	PromoteAllResourceAttributes bool `yaml:"promote_all_resource_attributes,omitempty"`
	// IgnoreResourceAttributes are not promoted by PromoteAllResourceAttributes (only
	// with it).
	IgnoreResourceAttributes []string `yaml:"ignore_resource_attributes,omitempty"`
	// KeepIdentifyingResourceAttributes keeps service.name, service.namespace and
	// service.instance.id in target_info as well.
	KeepIdentifyingResourceAttributes bool `yaml:"keep_identifying_resource_attributes,omitempty"`
	// ConvertHistogramsToNHCB writes explicit-bucket histograms as native histograms with
	// custom buckets.
	ConvertHistogramsToNHCB bool `yaml:"convert_histograms_to_nhcb,omitempty"`
	// PromoteScopeMetadata adds otel_scope_name and friends as labels.
	PromoteScopeMetadata bool `yaml:"promote_scope_metadata,omitempty"`
}

// DefaultArguments returns Arguments with Prometheus' defaults.
func DefaultArguments() *Arguments {
	return &Arguments{IncludeTargetInfo: true, AddMetricSuffixes: true}
}

// References implements pipeline.Referencer.
func (a *Arguments) References() []pipeline.Reference {
	return []pipeline.Reference{{Field: "forward_to", Kind: pipeline.KindMetrics, IDs: a.ForwardTo}}
}

// Validate implements pipeline.Arguments.
func (a *Arguments) Validate() error {
	var errs []error
	if len(a.ForwardTo) == 0 {
		errs = append(errs, pipeline.Field("forward_to", "at least one component is required"))
	}
	if a.PromoteAllResourceAttributes && len(a.PromoteResourceAttributes) > 0 {
		errs = append(errs, pipeline.Field("promote_resource_attributes", "cannot be used with promote_all_resource_attributes (use ignore_resource_attributes)"))
	}
	if !a.PromoteAllResourceAttributes && len(a.IgnoreResourceAttributes) > 0 {
		errs = append(errs, pipeline.Field("ignore_resource_attributes", "only applies with promote_all_resource_attributes"))
	}
	return errors.Join(errs...)
}
