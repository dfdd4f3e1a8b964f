package gpu

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/sondehq/sonde/components/prometheus/internal/inprocess"
	"github.com/sondehq/sonde/pipeline"
)

// Arguments configure prometheus.exporter.gpu.
type Arguments struct {
	// CollectInterval is how often NVML is read; scrapes between two collections are
	// served from the cached result. Profiling (DCGM_FI_PROF_*) values are averages over
	// this interval.
	CollectInterval model.Duration `yaml:"collect_interval"`
	// Counters lists the DCGM fields to export, with sonde's default type and help.
	// Empty (and no CountersFile) means the default set.
	Counters []string `yaml:"counters"`
	// CountersFile is a counter list in dcgm-exporter's CSV format ("FIELD, type, help").
	CountersFile string `yaml:"counters_file"`
	// PodResourcesSocket is the kubelet pod-resources gRPC socket used to label series
	// with the pod, namespace and container holding each GPU. Empty disables attribution.
	PodResourcesSocket string `yaml:"pod_resources_socket"`
	// ResourceNames are the extended resources that are NVIDIA GPUs; a trailing "*"
	// matches a prefix.
	ResourceNames []string `yaml:"resource_names"`
	// Hostname is the "Hostname" label and the target's instance; empty means $NODE_NAME,
	// else the host name.
	Hostname string `yaml:"hostname"`
	// LibraryPath is the libnvidia-ml shared object to load; empty lets the dynamic
	// linker find libnvidia-ml.so.1.
	LibraryPath string `yaml:"library_path"`
	// RecheckInterval is how often a node without a usable driver or GPU is checked again.
	RecheckInterval model.Duration `yaml:"recheck_interval"`
	// Job labels the published target.
	Job string `yaml:"job"`
}

// Defaults.
const (
	DefaultCollectInterval    = 10 * time.Second
	DefaultRecheckInterval    = 5 * time.Minute
	DefaultPodResourcesSocket = "/var/lib/kubelet/pod-resources/kubelet.sock"
	DefaultJob                = "dcgm-exporter"
	minInterval               = time.Second
)

// DefaultResourceNames are the NVIDIA device plugin's resources: whole (or time-sliced)
// GPUs, time-sliced GPUs renamed with renameByDefault, and MIG devices (mixed strategy).
var DefaultResourceNames = []string{"nvidia.com/gpu", "nvidia.com/gpu.shared", "nvidia.com/mig-*"}

// DefaultArguments returns the defaults.
func DefaultArguments() *Arguments {
	return &Arguments{
		CollectInterval:    model.Duration(DefaultCollectInterval),
		PodResourcesSocket: DefaultPodResourcesSocket,
		ResourceNames:      append([]string(nil), DefaultResourceNames...),
		RecheckInterval:    model.Duration(DefaultRecheckInterval),
		Job:                DefaultJob,
	}
}

// Validate implements pipeline.Arguments. It reads CountersFile, so that a bad file fails
// when the configuration is loaded.
func (a *Arguments) Validate() error {
	var errs []error
	if time.Duration(a.CollectInterval) < minInterval {
		errs = append(errs, pipeline.Field("collect_interval", "must be at least %s, got %s", minInterval, a.CollectInterval))
	}
	if time.Duration(a.RecheckInterval) < minInterval {
		errs = append(errs, pipeline.Field("recheck_interval", "must be at least %s, got %s", minInterval, a.RecheckInterval))
	}
	if len(a.Counters) > 0 && a.CountersFile != "" {
		errs = append(errs, pipeline.Field("counters", "set either counters or counters_file, not both"))
	} else if _, _, err := a.counters(); err != nil {
		var fe *pipeline.FieldError
		if errors.As(err, &fe) {
			errs = append(errs, err)
		} else {
			errs = append(errs, pipeline.Field("counters", "%v", err))
		}
	}
	if a.PodResourcesSocket != "" && !filepath.IsAbs(a.PodResourcesSocket) {
		errs = append(errs, pipeline.Field("pod_resources_socket", "must be an absolute path, got %q", a.PodResourcesSocket))
	}
	for i, n := range a.ResourceNames {
		if n == "" || strings.Contains(strings.TrimSuffix(n, "*"), "*") {
			errs = append(errs, pipeline.Field(fmt.Sprintf("resource_names[%d]", i), "want a resource name, optionally ending in *, got %q", n))
		}
	}
	if a.PodResourcesSocket != "" && len(a.ResourceNames) == 0 {
		errs = append(errs, pipeline.Field("resource_names", "must not be empty while pod_resources_socket is set"))
	}
	if a.Job == "" {
		errs = append(errs, pipeline.Field("job", "must not be empty"))
	}
	return errors.Join(errs...)
}

// counters resolves the counter list: Counters, CountersFile or the default set. unknown
// lists fields of CountersFile that sonde does not implement (they are skipped).
func (a *Arguments) counters() (specs []CounterSpec, unknown []string, err error) {
	switch {
	case len(a.Counters) > 0:
		specs, err = CountersFromNames(a.Counters)
		return specs, nil, err
	case a.CountersFile != "":
		f, err := os.Open(a.CountersFile)
		if err != nil {
			return nil, nil, pipeline.Field("counters_file", "%v", err)
		}
		defer f.Close()
		specs, unknown, err = ParseCounters(f)
		if err != nil {
			return nil, nil, pipeline.Field("counters_file", "%s: %v", a.CountersFile, err)
		}
		if len(specs) == 0 {
			return nil, nil, pipeline.Field("counters_file", "%s: no field sonde implements", a.CountersFile)
		}
		return specs, unknown, nil
	}
	specs, err = DefaultCounters()
	return specs, nil, err
}

// hostname returns the Hostname label value: the argument, else $NODE_NAME, else the
// host name.
func (a *Arguments) hostname() string {
	if a.Hostname != "" {
		return a.Hostname
	}
	if n := os.Getenv("NODE_NAME"); n != "" {
		return n
	}
	return inprocess.Hostname()
}

// matchResource reports whether an extended resource name is one of names.
func matchResource(names []string, resource string) bool {
	for _, n := range names {
		if p, ok := strings.CutSuffix(n, "*"); ok {
			if strings.HasPrefix(resource, p) {
				return true
			}
		} else if n == resource {
			return true
		}
	}
	return false
}
