package file

import (
	"errors"
	"path/filepath"
	"strings"
	"time"

	"github.com/alecthomas/units"
	"github.com/prometheus/common/model"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/sondehq/sonde/components/loki/source/file/decode"
	"github.com/sondehq/sonde/internal/kube"
	"github.com/sondehq/sonde/pipeline"
)

// Defaults.
const (
	DefaultMaxLineSize         = 256 * units.KiB
	DefaultPartialFlushTimeout = 5 * time.Second
	DefaultBatchSize           = 1 * units.MiB
	DefaultBatchWait           = 1 * time.Second
	DefaultPollInterval        = 10 * time.Second
	DefaultSyncPeriod          = 1 * time.Second
	DefaultPodWait             = 30 * time.Second

	// maxMaxLineSize bounds max_line_size: every reader holds a buffer of about this size.
	maxMaxLineSize = 64 * units.MiB
)

// Path label modes.
const (
	PathLabelsNone       = "none"
	PathLabelsKubernetes = "kubernetes"
)

// Start positions for files without a recorded position.
const (
	StartAtBeginning = "beginning"
	StartAtEnd       = "end"
)

// Arguments configure loki.source.file.
//
//	loki.source.file/pods:
//	  paths: ["/var/log/pods/*/*/*.log"]
//	  path_labels: kubernetes
//	  forward_to: [loki.write/default]
type Arguments struct {
	// Targets are the ids of components publishing targets; each target's __path__ (a glob)
	// is tailed and its labels not starting with "__" become stream labels.
	Targets []string `yaml:"targets"`
	// Paths are static globs (filepath.Match syntax per path element), tailed with Labels.
	Paths []string `yaml:"paths"`
	// Labels are added to every stream; they win over target and path labels.
	Labels map[string]string `yaml:"labels"`
	// Format is how lines are decoded: auto, cri, docker or raw. auto decides per file from
	// its first line.
	Format string `yaml:"format"`
	// PathLabels derives labels from the path: "kubernetes" reads
	// /var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log into namespace, pod,
	// container and job (namespace/pod), with uid as structured metadata; "none" adds a
	// filename label instead.
	PathLabels string `yaml:"path_labels"`
	// ForwardTo are the ids of the components that receive the entries. Required.
	ForwardTo []string `yaml:"forward_to"`
	// StartAt is where files found at start-up without a recorded position are read from:
	// beginning or end. Files appearing later are always read from their beginning.
	StartAt string `yaml:"start_at"`
	// MaxLineSize bounds an entry, a rejoined partial line included; longer ones are cut
	// and counted.
	MaxLineSize units.Base2Bytes `yaml:"max_line_size"`
	// PartialFlushTimeout is how long a partial line (CRI P, Docker chunk) waits for its
	// end before it is sent as it is.
	PartialFlushTimeout model.Duration `yaml:"partial_flush_timeout"`
	// BatchSize is the size (bytes of log lines) at which a batch is sent.
	BatchSize units.Base2Bytes `yaml:"batch_size"`
	// BatchWait is the longest an entry waits in a batch that is not full.
	BatchWait model.Duration `yaml:"batch_wait"`
	// PollInterval is how often the globs are expanded again and every file is checked for
	// growth, for filesystems where fsnotify misses events. It also bounds how long a
	// rotated file is kept open once it stops growing.
	PollInterval model.Duration `yaml:"poll_interval"`
	// SyncPeriod is how often acknowledged positions are written to the positions file.
	SyncPeriod model.Duration `yaml:"sync_period"`
	// PodLabels and PodAnnotations name pod labels and annotations added to the streams of
	// files under the kubelet's layout (path_labels: kubernetes), looked up by the pod uid
	// in the node-local pod cache; names are sanitised Prometheus-style
	// (app.kubernetes.io/name becomes app_kubernetes_io_name). Empty: no API server access.
	PodLabels      []string `yaml:"pod_labels"`
	PodAnnotations []string `yaml:"pod_annotations"`
	// Node is the node whose pods are cached (the field selector spec.nodeName=<node>);
	// the daemonset preset sets it from NODE_NAME. Required with pod_labels or
	// pod_annotations.
	Node string `yaml:"node"`
	// PodWait bounds how long a file waits, before its first line is read, for the pod
	// cache's initial list and then for its pod to be in the cache, so that its lines carry
	// the pod's labels from the first one on (a container's lines split over two streams
	// otherwise, and lines sent again after a restart land in the other one). Other files
	// are read meanwhile. After the bound the file is read without them (counted in
	// pod_metadata_missing_total) and labelled once the pod shows up. 0: never wait.
	PodWait model.Duration `yaml:"pod_wait"`
	// ClientArgs say how to reach the API server (kubeconfig_file, api_server and
	// Prometheus' HTTP client settings, inline; default in-cluster). Used only with
	// pod_labels or pod_annotations.
	kube.ClientArgs `yaml:",inline"`
}

// DefaultArguments returns Arguments with their defaults.
func DefaultArguments() *Arguments {
	return &Arguments{
		Format:              decode.FormatAuto.String(),
		PathLabels:          PathLabelsNone,
		StartAt:             StartAtBeginning,
		MaxLineSize:         DefaultMaxLineSize,
		PartialFlushTimeout: model.Duration(DefaultPartialFlushTimeout),
		BatchSize:           DefaultBatchSize,
		BatchWait:           model.Duration(DefaultBatchWait),
		PollInterval:        model.Duration(DefaultPollInterval),
		SyncPeriod:          model.Duration(DefaultSyncPeriod),
		PodWait:             model.Duration(DefaultPodWait),
		ClientArgs:          kube.DefaultClientArgs(),
	}
}

// podMetadata reports whether pod labels or annotations are asked for.
func (a *Arguments) podMetadata() bool { return len(a.PodLabels) > 0 || len(a.PodAnnotations) > 0 }

// References implements pipeline.Referencer.
func (a *Arguments) References() []pipeline.Reference {
	return []pipeline.Reference{
		{Field: "targets", Kind: pipeline.KindTargets, IDs: a.Targets},
		{Field: "forward_to", Kind: pipeline.KindLogs, IDs: a.ForwardTo},
	}
}

// Validate implements pipeline.Arguments.
func (a *Arguments) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, pipeline.Field(field, format, args...))
	}
	if len(a.Targets) == 0 && len(a.Paths) == 0 {
		add("paths", "either paths or targets is required")
	}
	for i, id := range a.Targets {
		if id == "" {
			add("targets", "entry %d is empty", i)
		}
	}
	for i, p := range a.Paths {
		if err := checkPattern(p); err != nil {
			add("paths", "entry %d: %v", i, err)
		}
	}
	for name, value := range a.Labels {
		if !model.LabelName(name).IsValidLegacy() || strings.HasPrefix(name, model.ReservedLabelPrefix) {
			add("labels."+name, "invalid label name (want [a-zA-Z_][a-zA-Z0-9_]*, not starting with __)")
		}
		if !model.LabelValue(value).IsValid() {
			add("labels."+name, "label value is not valid UTF-8")
		}
	}
	if _, err := decode.ParseFormat(a.Format); err != nil {
		add("format", "%v", err)
	}
	if a.PathLabels != PathLabelsNone && a.PathLabels != PathLabelsKubernetes {
		add("path_labels", "unknown value %q (want none or kubernetes)", a.PathLabels)
	}
	if len(a.ForwardTo) == 0 {
		add("forward_to", "at least one component id is required")
	}
	for i, id := range a.ForwardTo {
		if id == "" {
			add("forward_to", "entry %d is empty", i)
		}
	}
	if a.StartAt != StartAtBeginning && a.StartAt != StartAtEnd {
		add("start_at", "unknown value %q (want beginning or end)", a.StartAt)
	}
	if a.MaxLineSize < 1 || a.MaxLineSize > maxMaxLineSize {
		add("max_line_size", "must be between 1B and %s, got %s", maxMaxLineSize, a.MaxLineSize)
	}
	if a.BatchSize < 1 {
		add("batch_size", "must be positive, got %s", a.BatchSize)
	}
	for _, d := range []struct {
		field string
		v     model.Duration
	}{
		{"partial_flush_timeout", a.PartialFlushTimeout},
		{"batch_wait", a.BatchWait},
		{"poll_interval", a.PollInterval},
		{"sync_period", a.SyncPeriod},
	} {
		if d.v <= 0 {
			add(d.field, "must be positive, got %s", d.v)
		}
	}
	if a.PodWait < 0 {
		add("pod_wait", "must not be negative, got %s", a.PodWait)
	}
	errs = append(errs, a.validatePodMetadata()...)
	return errors.Join(errs...)
}

func (a *Arguments) validatePodMetadata() []error {
	if !a.podMetadata() {
		return nil
	}
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, pipeline.Field(field, format, args...))
	}
	if a.PathLabels != PathLabelsKubernetes {
		add("path_labels", "must be kubernetes with pod_labels or pod_annotations (the pod uid comes from the path)")
	}
	for _, f := range []struct {
		field string
		names []string
	}{{"pod_labels", a.PodLabels}, {"pod_annotations", a.PodAnnotations}} {
		for i, n := range f.names {
			if n == "" {
				add(f.field, "entry %d is empty", i)
			} else if strings.HasPrefix(sanitizeLabelName(n), model.ReservedLabelPrefix) {
				add(f.field, "entry %d: %q would become a reserved label name (starting with __)", i, n)
			}
		}
	}
	if a.Node == "" {
		add("node", "required with pod_labels or pod_annotations (e.g. ${NODE_NAME}): only this node's pods are cached")
	} else {
		for _, msg := range validation.IsDNS1123Subdomain(a.Node) {
			add("node", "%q: %s", a.Node, msg)
		}
	}
	if err := a.ClientArgs.Validate(pipeline.Field); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// checkPattern rejects globs that can never match and files that are never read.
func checkPattern(p string) error {
	if p == "" {
		return errors.New("empty path")
	}
	if _, err := filepath.Match(p, ""); err != nil {
		return err
	}
	if strings.Contains(p, "**") {
		return errors.New("** is not supported: each * matches within one path element")
	}
	return nil
}

// settings are the arguments in the form the running component uses.
type settings struct {
	format        decode.Format
	kubernetes    bool
	startAtEnd    bool
	maxLineSize   int
	flushTimeout  time.Duration
	batchSize     int
	batchWait     time.Duration
	pollInterval  time.Duration
	syncPeriod    time.Duration
	staticLabels  model.LabelSet
	staticTargets []model.LabelSet // one per entry of paths, holding __path__
	podLabels     []podField       // pod labels to add (empty: none)
	podAnnots     []podField       // pod annotations to add (empty: none)
	podWait       time.Duration    // how long a file waits for its pod before it is read
}

// podField is a pod label or annotation to add and the label name it becomes.
type podField struct {
	key  string
	name model.LabelName
}

func podFields(keys []string) []podField {
	out := make([]podField, 0, len(keys))
	for _, k := range keys {
		out = append(out, podField{key: k, name: model.LabelName(sanitizeLabelName(k))})
	}
	return out
}

func newSettings(a *Arguments) *settings {
	f, _ := decode.ParseFormat(a.Format) // validated
	s := &settings{
		format:       f,
		kubernetes:   a.PathLabels == PathLabelsKubernetes,
		startAtEnd:   a.StartAt == StartAtEnd,
		maxLineSize:  int(a.MaxLineSize),
		flushTimeout: time.Duration(a.PartialFlushTimeout),
		batchSize:    int(a.BatchSize),
		batchWait:    time.Duration(a.BatchWait),
		pollInterval: time.Duration(a.PollInterval),
		syncPeriod:   time.Duration(a.SyncPeriod),
		podWait:      time.Duration(a.PodWait),
		staticLabels: make(model.LabelSet, len(a.Labels)),
	}
	for k, v := range a.Labels {
		s.staticLabels[model.LabelName(k)] = model.LabelValue(v)
	}
	if a.podMetadata() {
		s.podLabels, s.podAnnots = podFields(a.PodLabels), podFields(a.PodAnnotations)
	}
	for _, p := range a.Paths {
		s.staticTargets = append(s.staticTargets, model.LabelSet{pathLabel: model.LabelValue(p)})
	}
	return s
}

// decodeConfig is the part of settings a file's decoder depends on.
func (s *settings) decodeConfig() decode.Config {
	return decode.Config{Format: s.format, MaxLineSize: s.maxLineSize}
}
