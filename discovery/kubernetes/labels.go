package kubernetes

import (
	"strconv"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/targetgroup"
)

// Label names sonde reads or adds on pod targets.
const (
	// PortAnnotationLabel is Prometheus' meta label for the prometheus.io/port annotation.
	PortAnnotationLabel model.LabelName = "__meta_kubernetes_pod_annotation_prometheus_io_port"
	// AnnotatedPortTargetLabel is sonde's own addition to Prometheus' pod labels: "true" on
	// the one target of a pod that its prometheus.io/port annotation designates, so that
	// relabel rules can scrape such a pod exactly once whatever its containers declare
	// (relabelling sees one target at a time and cannot know whether another target of the
	// same pod declares the port). The designated target is the first container port equal
	// to the annotation; when no container declares it, the first target of the pod's
	// first (non-init) container. Absent on every other target and on pods without a
	// numeric annotation.
	AnnotatedPortTargetLabel model.LabelName = model.MetaLabelPrefix + "sonde_pod_annotated_port_target"

	containerPortLabel model.LabelName = "__meta_kubernetes_pod_container_port_number"
	containerInitLabel model.LabelName = "__meta_kubernetes_pod_container_init"
)

// MarkAnnotatedPortTarget sets AnnotatedPortTargetLabel on the designated target of a pod
// group built the way Prometheus' pod role builds it (one group per pod, the pod's labels
// on the group, one target per container port, init containers last).
func MarkAnnotatedPortTarget(tg *targetgroup.Group) {
	if tg == nil || len(tg.Targets) == 0 {
		return
	}
	p, err := strconv.ParseUint(string(tg.Labels[PortAnnotationLabel]), 10, 16)
	if err != nil || p == 0 {
		return
	}
	ann := strconv.FormatUint(p, 10)
	pick := -1
	for i, t := range tg.Targets {
		if t[containerInitLabel] == "true" {
			continue
		}
		if string(t[containerPortLabel]) == ann {
			pick = i
			break
		}
		if pick < 0 {
			pick = i
		}
	}
	if pick >= 0 {
		tg.Targets[pick][AnnotatedPortTargetLabel] = "true"
	}
}
