package gpu

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/sondehq/sonde/components/prometheus/exporter/gpu/nvml"
)

// CheckReport is what Check found on this machine.
type CheckReport struct {
	Driver     string
	NVML       string
	GPUs       []CheckGPU
	Exposition string // what a scrape would return (text format)
}

// CheckGPU is one GPU, or one MIG GPU instance (MIG set).
type CheckGPU struct {
	Index    int
	UUID     string
	Model    string
	PCIBusID string
	MIG      string // "GPU_I_ID=1 GPU_I_PROFILE=1g.10gb" for a MIG instance
	GPM      bool   // profiling metrics available
	Lost     bool
	Errors   []string
	Fields   []CheckField
}

// CheckField is one counter's outcome.
type CheckField struct {
	Name   string
	Value  string // formatted value, or the label value
	Status string // "ok", "not supported", "whole GPU only", "no value" (error, no sample)
}

// ErrNoGPU is returned by Check when NVML is unusable or sees no GPU.
var ErrNoGPU = errors.New("no usable NVIDIA GPU")

// Check runs the collector against lib the way the component does: two passes gap apart
// (GPM metrics need a pair of samples), then reports, per GPU, which counters had values
// and which were not supported. It is the engine of `make gpu-check`.
func Check(lib nvml.Library, specs []CounterSpec, hostname string, gap time.Duration, logger *slog.Logger) (*CheckReport, error) {
	col := newCollector(lib, logger, nil, specs)
	if err := col.openSession(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoGPU, err)
	}
	defer col.closeSession()
	if _, err := col.pass(); err != nil {
		return nil, err
	}
	time.Sleep(gap)
	gpus, err := col.pass()
	if err != nil {
		return nil, err
	}
	fams, _ := build(specs, col.sys, hostname, gpus, nil)
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range fams {
		if err := enc.Encode(f); err != nil {
			return nil, err
		}
	}
	rep := &CheckReport{Driver: col.sys.DriverVersion, NVML: col.sys.NVMLVersion, Exposition: buf.String()}
	for _, g := range gpus {
		rep.GPUs = append(rep.GPUs, checkEntity(specs, col.sys, entity{gpu: g}))
		for _, gi := range slices.Sorted(maps.Keys(g.migs)) {
			rep.GPUs = append(rep.GPUs, checkEntity(specs, col.sys, entity{gpu: g, mig: g.migs[gi]}))
		}
	}
	return rep, nil
}

func checkEntity(specs []CounterSpec, sys nvml.System, e entity) CheckGPU {
	g := e.gpu
	out := CheckGPU{Index: g.info.Index, UUID: g.info.UUID, Model: g.info.Name, PCIBusID: g.info.PCIBusID,
		Lost: g.lost, Errors: g.errors, GPM: g.gpm.sampler != nil && !g.gpm.unsupported}
	unsupported, gpm := g.unsupported, &g.gpm
	if e.mig != nil {
		out.MIG = "GPU_I_ID=" + strconv.Itoa(e.mig.gi) + " GPU_I_PROFILE=" + e.mig.profile
		unsupported, gpm = e.mig.unsupported, &e.mig.gpm
		out.GPM = gpm.sampler != nil && !gpm.unsupported
	}
	for _, s := range specs {
		f := CheckField{Name: s.Name, Status: "no value"}
		switch {
		case s.f.src == fromLabel:
			if v := s.f.label(sys, g.info); v != "" {
				f.Status, f.Value = "ok", v
			}
		case e.mig != nil && !s.f.mig:
			f.Status = "whole GPU only"
		default:
			if v, _, ok := value(s.f, e); ok {
				f.Status, f.Value = "ok", strconv.FormatFloat(v, 'g', -1, 64)
			} else if s.f.src == fromGPM && (gpm.unsupported || gpm.sampler != nil) {
				f.Status = "not supported"
			} else if s.f.src == fromReadings && slices.ContainsFunc(s.f.readings, func(r nvml.Reading) bool { return unsupported[r] }) {
				f.Status = "not supported"
			}
		}
		out.Fields = append(out.Fields, f)
	}
	return out
}
