package relabel

import (
	"errors"

	"github.com/prometheus/prometheus/model/relabel"

	"github.com/sondehq/sonde/internal/targets"
	"github.com/sondehq/sonde/pipeline"
)

// Arguments configure discovery.relabel.
//
//	discovery.relabel/annotated:
//	  targets: [discovery.kubernetes/pods]
//	  rules:
//	    - {source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape], regex: "true", action: keep}
type Arguments struct {
	// Targets are the ids of the components whose targets are relabelled.
	Targets []string `yaml:"targets"`
	// Rules are Prometheus relabel_configs, applied in order to every target.
	Rules []*relabel.Config `yaml:"rules"`
}

// DefaultArguments returns Arguments with their defaults: none.
func DefaultArguments() *Arguments { return &Arguments{} }

// Validate implements pipeline.Arguments; it also completes the rules for use.
func (a *Arguments) Validate() error {
	var errs []error
	if len(a.Targets) == 0 {
		errs = append(errs, pipeline.Field("targets", "at least one component id is required"))
	}
	for i, id := range a.Targets {
		if id == "" {
			errs = append(errs, pipeline.Field("targets", "entry %d is empty", i))
		}
	}
	errs = append(errs, targets.ValidateRules("rules", a.Rules))
	return errors.Join(errs...)
}

// References implements pipeline.Referencer.
func (a *Arguments) References() []pipeline.Reference {
	return []pipeline.Reference{{Field: "targets", Kind: pipeline.KindTargets, IDs: a.Targets}}
}
