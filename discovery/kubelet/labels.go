package kubelet

import (
	"net"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/util/strutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sondehq/sonde/discovery/kubernetes"
)

// Why not Prometheus' code: its pod role builds these labels in unexported methods of a
// discoverer that needs an informer; the kubelet's /pods is a plain list. This file mirrors
// prometheus/discovery/kubernetes/pod.go (podLabels, buildPod, podReady) label for label,
// and labels_test.go checks the two agree on the same pods by running Prometheus' own pod
// discoverer over them.

const metaPrefix = model.MetaLabelPrefix + "kubernetes_"

// podGroup builds the target group of a pod as Prometheus' pod role does: the pod's labels
// on the group, one target per container port (one per port-less container), init
// containers last. A pod without an IP has no targets.
func podGroup(pod *corev1.Pod) *targetgroup.Group {
	tg := &targetgroup.Group{Source: "pod/" + pod.Namespace + "/" + pod.Name}
	if pod.Status.PodIP == "" {
		return tg
	}
	tg.Labels = podLabels(pod)
	tg.Labels[metaPrefix+"namespace"] = lv(pod.Namespace)

	containers := append(append([]corev1.Container(nil), pod.Spec.Containers...), pod.Spec.InitContainers...)
	for i, c := range containers {
		isInit := i >= len(pod.Spec.Containers)
		statuses := pod.Status.ContainerStatuses
		if isInit {
			statuses = pod.Status.InitContainerStatuses
		}
		cID := containerID(statuses, c.Name)
		if len(c.Ports) == 0 {
			tg.Targets = append(tg.Targets, model.LabelSet{
				model.AddressLabel:                 lv(pod.Status.PodIP),
				metaPrefix + "pod_container_name":  lv(c.Name),
				metaPrefix + "pod_container_id":    lv(cID),
				metaPrefix + "pod_container_image": lv(c.Image),
				metaPrefix + "pod_container_init":  lv(strconv.FormatBool(isInit)),
			})
			continue
		}
		for _, port := range c.Ports {
			ports := strconv.FormatUint(uint64(port.ContainerPort), 10)
			tg.Targets = append(tg.Targets, model.LabelSet{
				model.AddressLabel:                         lv(net.JoinHostPort(pod.Status.PodIP, ports)),
				metaPrefix + "pod_container_name":          lv(c.Name),
				metaPrefix + "pod_container_id":            lv(cID),
				metaPrefix + "pod_container_image":         lv(c.Image),
				metaPrefix + "pod_container_port_number":   lv(ports),
				metaPrefix + "pod_container_port_name":     lv(port.Name),
				metaPrefix + "pod_container_port_protocol": lv(string(port.Protocol)),
				metaPrefix + "pod_container_init":          lv(strconv.FormatBool(isInit)),
			})
		}
	}
	kubernetes.MarkAnnotatedPortTarget(tg)
	return tg
}

func podLabels(pod *corev1.Pod) model.LabelSet {
	ls := model.LabelSet{
		metaPrefix + "pod_ip":        lv(pod.Status.PodIP),
		metaPrefix + "pod_ready":     podReady(pod),
		metaPrefix + "pod_phase":     lv(string(pod.Status.Phase)),
		metaPrefix + "pod_node_name": lv(pod.Spec.NodeName),
		metaPrefix + "pod_host_ip":   lv(pod.Status.HostIP),
		metaPrefix + "pod_uid":       lv(string(pod.UID)),
		metaPrefix + "pod_name":      lv(pod.Name),
	}
	for k, v := range pod.Labels {
		ln := strutil.SanitizeLabelName(k)
		ls[model.LabelName(metaPrefix+"pod_label_"+ln)] = lv(v)
		ls[model.LabelName(metaPrefix+"pod_labelpresent_"+ln)] = "true"
	}
	for k, v := range pod.Annotations {
		ln := strutil.SanitizeLabelName(k)
		ls[model.LabelName(metaPrefix+"pod_annotation_"+ln)] = lv(v)
		ls[model.LabelName(metaPrefix+"pod_annotationpresent_"+ln)] = "true"
	}
	if owner := metav1.GetControllerOf(pod); owner != nil {
		if owner.Kind != "" {
			ls[metaPrefix+"pod_controller_kind"] = lv(owner.Kind)
		}
		if owner.Name != "" {
			ls[metaPrefix+"pod_controller_name"] = lv(owner.Name)
		}
	}
	return ls
}

func podReady(pod *corev1.Pod) model.LabelValue {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return lv(strings.ToLower(string(c.Status)))
		}
	}
	return lv(strings.ToLower(string(corev1.ConditionUnknown)))
}

func containerID(statuses []corev1.ContainerStatus, name string) string {
	for _, s := range statuses {
		if s.Name == name {
			return s.ContainerID
		}
	}
	return ""
}

func lv(s string) model.LabelValue { return model.LabelValue(s) }
