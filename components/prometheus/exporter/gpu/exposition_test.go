package gpu

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/components/prometheus/exporter/gpu/nvml"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestGolden compares the exposition for the fake node (after two passes, with an XID
// on GPU 0) with testdata/golden.prom (refresh with -update).
func TestGolden(t *testing.T) {
	lib := fakeNode()
	lib.Emit(nvml.Event{UUID: uuid0, XID: 13, GPUInstanceID: -1, ComputeInstanceID: -1})
	fams, _, m := collectTwice(t, lib, fakePods())
	got := encode(t, fams)

	golden := filepath.Join("testdata", "golden.prom")
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	require.Equal(t, string(want), got, "exposition differs from %s (run with -update to refresh)", golden)

	require.Equal(t, 1.0, pipelinetest.MetricValue(t, promGatherer(m), "sonde_gpu_xid_errors_total", "gpu", "0", "xid", "13"))
	require.Equal(t, 2.0, pipelinetest.MetricValue(t, promGatherer(m), "sonde_gpu_errors_total", "gpu", "2", "reason", reasonNVML),
		"the T4's failing encoder reading is counted once per pass")
}

// TestDCGMExporterReference compares the exposition with what dcgm-exporter writes for
// the same readings (testdata/dcgm-exporter.prom, written by hand in dcgm-exporter's
// format): the same metric families, HELP and TYPE, and series with the same label
// names and values and the same sample values.
func TestDCGMExporterReference(t *testing.T) {
	lib := fakeNode()
	lib.Emit(nvml.Event{UUID: uuid0, XID: 13, GPUInstanceID: -1, ComputeInstanceID: -1})
	fams, _, _ := collectTwice(t, lib, fakePods())
	got := parse(t, encode(t, fams))
	ref, err := os.ReadFile(filepath.Join("testdata", "dcgm-exporter.prom"))
	require.NoError(t, err)
	want := parse(t, string(ref))

	require.ElementsMatch(t, keys(want), keys(got), "metric families")
	for name, w := range want {
		g := got[name]
		require.Equal(t, w.GetHelp(), g.GetHelp(), "HELP of %s", name)
		require.Equal(t, w.GetType(), g.GetType(), "TYPE of %s", name)
		require.ElementsMatch(t, seriesOf(w), seriesOf(g), "series of %s", name)
	}
}

// TestLabelOrder checks that labels come in dcgm-exporter's order, so the text is the
// same line for line, not only after parsing.
func TestLabelOrder(t *testing.T) {
	fams, _, _ := collectTwice(t, fakeNode(), fakePods())
	text := encode(t, fams)
	order := []string{"gpu", "UUID", "pci_bus_id", "device", "modelName", "GPU_I_PROFILE", "GPU_I_ID", "Hostname",
		"DCGM_FI_DRIVER_VERSION", "container", "err_code", "err_msg", "namespace", "pod", "vgpu"}
	name := regexp.MustCompile(`([A-Za-z_]+)="`)
	for line := range strings.Lines(text) {
		if strings.HasPrefix(line, "#") {
			continue
		}
		var idx []int
		for _, m := range name.FindAllStringSubmatch(line, -1) {
			i := slices.Index(order, m[1])
			require.GreaterOrEqual(t, i, 0, "unexpected label %s in %s", m[1], line)
			idx = append(idx, i)
		}
		require.True(t, slices.IsSorted(idx), "labels out of dcgm-exporter's order: %s", line)
	}
}

func keys(m map[string]*dto.MetricFamily) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// seriesOf renders each series as its sorted labels and value.
func seriesOf(f *dto.MetricFamily) []string {
	var out []string
	for _, m := range f.GetMetric() {
		var ls []string
		for _, l := range m.GetLabel() {
			ls = append(ls, l.GetName()+"="+l.GetValue())
		}
		slices.Sort(ls)
		v := m.GetGauge().GetValue()
		if m.Counter != nil {
			v = m.GetCounter().GetValue()
		}
		out = append(out, strings.Join(ls, ",")+" "+strings.TrimRight(strings.TrimRight(fmtFloat(v), "0"), "."))
	}
	return out
}
