package file

import (
	"path/filepath"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/sondehq/sonde/components/loki/source/file/decode"
)

// pathLabel is the target label holding the glob to tail.
const pathLabel model.LabelName = "__path__"

// Labels set on entries.
const (
	labelFilename  = "filename"
	labelNamespace = "namespace"
	labelPod       = "pod"
	labelContainer = "container"
	labelJob       = "job"
	labelStream    = "stream"
	metadataUID    = "uid"
)

// streamLabels are the labels of one file's entries, per decoded stream. They are shared by
// every entry of the file and never modified; each entry gets its own copy of the map (see
// tracker.toEntries).
type streamLabels struct {
	byStream [3]model.LabelSet // indexed by decode.Stream
	metadata labels.Labels
}

// newStreamLabels builds the labels of the file matched at path (real: with links
// resolved) by a target with the given labels. Precedence, lowest first: labels derived
// from the path, the target's own labels (those not starting with "__"), the static labels,
// and the stream label. podMeta holds the selected pod labels and annotations (pod_labels,
// pod_annotations): they rank above the labels derived from the path, which they never
// replace, and below the target's and the static labels. The kubelet's layout is read from the real path, so links such as
// /var/log/containers/*.log are labelled like the files they point to.
func newStreamLabels(path, real string, target model.LabelSet, s *settings, podMeta model.LabelSet) *streamLabels {
	base := make(model.LabelSet, len(target)+len(s.staticLabels)+len(podMeta)+4)
	var meta labels.Labels
	ns, pod, uid, container, ok := kubernetesPath(real)
	switch {
	case s.kubernetes && ok:
		base[labelNamespace] = model.LabelValue(ns)
		base[labelPod] = model.LabelValue(pod)
		base[labelContainer] = model.LabelValue(container)
		base[labelJob] = model.LabelValue(ns + "/" + pod)
		meta = labels.FromStrings(metadataUID, uid)
	default:
		base[labelFilename] = model.LabelValue(path)
	}
	for k, v := range podMeta {
		if _, set := base[k]; !set {
			base[k] = v
		}
	}
	for k, v := range target {
		if !strings.HasPrefix(string(k), model.ReservedLabelPrefix) {
			base[k] = v
		}
	}
	for k, v := range s.staticLabels {
		base[k] = v
	}
	sl := &streamLabels{metadata: meta}
	sl.byStream[decode.StreamNone] = base
	for _, st := range []decode.Stream{decode.StreamStdout, decode.StreamStderr} {
		ls := base.Clone()
		ls[labelStream] = model.LabelValue(st.String())
		sl.byStream[st] = ls
	}
	return sl
}

// labelKey is what a file's labels are built from: when it has not changed, reconcile keeps
// the labels it built before instead of building them again at every poll.
type labelKey struct {
	path, real string
	target     model.Fingerprint
	settings   *settings
	// podPending is set on a tracker's key when its pod was not in the cache: the key then
	// differs from every wanted key, so the next reconcile builds the labels again.
	podPending bool
}

func newLabelKey(path, real string, target model.LabelSet, s *settings) labelKey {
	return labelKey{path: path, real: real, target: target.Fingerprint(), settings: s}
}

// kubernetesPath reads the kubelet's layout /var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log
// (any prefix). Namespaces and pod names cannot hold "_", so the split is unambiguous.
func kubernetesPath(path string) (ns, pod, uid, container string, ok bool) {
	dir := filepath.Dir(path)
	container = filepath.Base(dir)
	podDir := filepath.Base(filepath.Dir(dir))
	parts := strings.Split(podDir, "_")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" ||
		container == "" || container == "." || container == string(filepath.Separator) {
		return "", "", "", "", false
	}
	return parts[0], parts[1], parts[2], container, true
}
