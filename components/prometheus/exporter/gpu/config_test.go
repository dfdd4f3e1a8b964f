package gpu

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline"
)

func TestDefaults(t *testing.T) {
	a := DefaultArguments()
	require.NoError(t, a.Validate())
	require.Equal(t, model.Duration(10*time.Second), a.CollectInterval)
	require.Equal(t, model.Duration(5*time.Minute), a.RecheckInterval)
	require.Equal(t, "/var/lib/kubelet/pod-resources/kubelet.sock", a.PodResourcesSocket)
	require.Equal(t, []string{"nvidia.com/gpu", "nvidia.com/gpu.shared", "nvidia.com/mig-*"}, a.ResourceNames)
	require.Equal(t, "dcgm-exporter", a.Job)
	specs, unknown, err := a.counters()
	require.NoError(t, err)
	require.Empty(t, unknown)
	require.Len(t, specs, 33)
}

func TestHostname(t *testing.T) {
	a := DefaultArguments()
	t.Setenv("NODE_NAME", "node-7")
	require.Equal(t, "node-7", a.hostname())
	a.Hostname = "explicit"
	require.Equal(t, "explicit", a.hostname())
	t.Setenv("NODE_NAME", "")
	a.Hostname = ""
	host, _ := os.Hostname()
	require.Equal(t, host, a.hostname())
}

func TestValidate(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.csv")
	require.NoError(t, os.WriteFile(bad, []byte("DCGM_FI_DEV_GPU_TEMP, gauge\n"), 0o644))
	empty := filepath.Join(t.TempDir(), "empty.csv")
	require.NoError(t, os.WriteFile(empty, []byte("# nothing\nDCGM_EXP_XID_ERRORS_COUNT, gauge, x\n"), 0o644))

	for _, tc := range []struct {
		name   string
		modify func(*Arguments)
		field  string
		msg    string
	}{
		{"short interval", func(a *Arguments) { a.CollectInterval = model.Duration(100 * time.Millisecond) }, "collect_interval", "at least 1s"},
		{"short recheck", func(a *Arguments) { a.RecheckInterval = 0 }, "recheck_interval", "at least 1s"},
		{"both counter lists", func(a *Arguments) { a.Counters = []string{"DCGM_FI_DEV_GPU_TEMP"}; a.CountersFile = bad }, "counters", "not both"},
		{"unknown counter", func(a *Arguments) { a.Counters = []string{"DCGM_FI_DEV_GPU_TEMPERATURE"} }, "counters", `"DCGM_FI_DEV_GPU_TEMPERATURE"`},
		{"missing file", func(a *Arguments) { a.CountersFile = "/nonexistent/counters.csv" }, "counters_file", "no such file"},
		{"malformed file", func(a *Arguments) { a.CountersFile = bad }, "counters_file", "line 1: want 3 columns"},
		{"file without known field", func(a *Arguments) { a.CountersFile = empty }, "counters_file", "no field sonde implements"},
		{"relative socket", func(a *Arguments) { a.PodResourcesSocket = "kubelet.sock" }, "pod_resources_socket", "absolute"},
		{"bad resource pattern", func(a *Arguments) { a.ResourceNames = []string{"nvidia.com/*gpu"} }, "resource_names[0]", "optionally ending in *"},
		{"no resources", func(a *Arguments) { a.ResourceNames = nil }, "resource_names", "must not be empty"},
		{"empty job", func(a *Arguments) { a.Job = "" }, "job", "must not be empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := DefaultArguments()
			tc.modify(a)
			err := a.Validate()
			require.Error(t, err)
			var fe *pipeline.FieldError
			require.True(t, errors.As(err, &fe), "%v", err)
			require.Equal(t, tc.field, fe.Field)
			require.Contains(t, err.Error(), tc.msg)
		})
	}
}

// TestCountersFile reads a counter list in dcgm-exporter's CSV format, with its quirks
// (",," after comments, spaces around names, upper-case types), and skips fields sonde
// does not implement.
func TestCountersFile(t *testing.T) {
	a := DefaultArguments()
	a.CountersFile = filepath.Join("testdata", "counters.csv")
	require.NoError(t, a.Validate())
	specs, unknown, err := a.counters()
	require.NoError(t, err)
	var got []string
	for _, s := range specs {
		got = append(got, s.Name+"|"+string(s.Type)+"|"+s.Help)
	}
	require.Equal(t, []string{
		"DCGM_FI_DEV_SM_CLOCK|gauge|SM clock frequency (in MHz).",
		"DCGM_FI_DEV_DEC_UTIL|gauge|Decoder utilization (in %).",
		"DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL|counter|Total number of NVLink bandwidth counters for all lanes",
		"DCGM_FI_DRIVER_VERSION|label|Driver Version",
		"DCGM_FI_PROF_SM_ACTIVE|gauge|My own help.",
	}, got)
	require.Equal(t, []string{"DCGM_FI_DEV_NVSWITCH_LINK_THROUGHPUT_TX", "DCGM_EXP_XID_ERRORS_COUNT"}, unknown)
}

func TestParseCountersErrors(t *testing.T) {
	for _, tc := range []struct {
		name, csv, want string
	}{
		{"two columns", "DCGM_FI_DEV_GPU_TEMP, gauge\n", "line 1: want 3 columns"},
		{"bad type", "\nDCGM_FI_DEV_GPU_TEMP, histogram, x\n", "line 2: DCGM_FI_DEV_GPU_TEMP: type \"histogram\""},
		{"value as label", "DCGM_FI_DEV_GPU_TEMP, label, x\n", "DCGM_FI_DEV_GPU_TEMP is a value"},
		{"label as value", "DCGM_FI_DRIVER_VERSION, gauge, x\n", "DCGM_FI_DRIVER_VERSION is a label"},
		{"twice", "DCGM_FI_DEV_GPU_TEMP, gauge, x\nDCGM_FI_DEV_GPU_TEMP, gauge, y\n", "line 2: DCGM_FI_DEV_GPU_TEMP listed twice"},
		{"quote", "DCGM_FI_DEV_GPU_TEMP, gauge, \"x\n", "line 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseCounters(strings.NewReader(tc.csv))
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// TestDefaultCounters: the embedded default is dcgm-exporter's default counter set, in
// its order, followed by the profiling additions, and every field sonde implements has a
// help text and a type.
func TestDefaultCounters(t *testing.T) {
	specs, err := DefaultCounters()
	require.NoError(t, err)
	var names []string
	for _, s := range specs {
		names = append(names, s.Name)
	}
	dcgmExporterDefault := []string{ // etc/default-counters.csv, active lines
		"DCGM_FI_DEV_SM_CLOCK", "DCGM_FI_DEV_MEM_CLOCK", "DCGM_FI_DEV_MEMORY_TEMP", "DCGM_FI_DEV_GPU_TEMP",
		"DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "DCGM_FI_DEV_PCIE_REPLAY_COUNTER",
		"DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_MEM_COPY_UTIL", "DCGM_FI_DEV_ENC_UTIL", "DCGM_FI_DEV_DEC_UTIL",
		"DCGM_FI_DEV_XID_ERRORS", "DCGM_FI_DEV_FB_FREE", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_RESERVED",
		"DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL", "DCGM_FI_DEV_VGPU_LICENSE_STATUS",
		"DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", "DCGM_FI_DEV_ROW_REMAP_FAILURE",
		"DCGM_FI_DRIVER_VERSION", "DCGM_FI_PROF_GR_ENGINE_ACTIVE", "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE",
		"DCGM_FI_PROF_DRAM_ACTIVE", "DCGM_FI_PROF_PCIE_TX_BYTES", "DCGM_FI_PROF_PCIE_RX_BYTES",
	}
	require.Equal(t, dcgmExporterDefault, names[:len(dcgmExporterDefault)])
	require.Equal(t, []string{"DCGM_FI_PROF_SM_ACTIVE", "DCGM_FI_PROF_SM_OCCUPANCY", "DCGM_FI_PROF_PIPE_FP64_ACTIVE",
		"DCGM_FI_PROF_PIPE_FP32_ACTIVE", "DCGM_FI_PROF_PIPE_FP16_ACTIVE", "DCGM_FI_PROF_NVLINK_TX_BYTES",
		"DCGM_FI_PROF_NVLINK_RX_BYTES"}, names[len(dcgmExporterDefault):])

	for _, f := range catalog {
		require.NotEmpty(t, f.help, f.name)
		require.Contains(t, []MetricType{Gauge, Counter, Label}, f.typ, f.name)
		require.True(t, strings.HasPrefix(f.name, "DCGM_FI_"), f.name)
	}
	all, err := CountersFromNames(FieldNames())
	require.NoError(t, err)
	require.Len(t, all, len(catalog))
}
