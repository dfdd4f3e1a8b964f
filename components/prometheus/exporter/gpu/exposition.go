package gpu

import (
	"cmp"
	"maps"
	"slices"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/sondehq/sonde/components/prometheus/exporter/gpu/nvml"
)

// Label names, as dcgm-exporter writes them.
const (
	labelGPU        = "gpu"
	labelUUID       = "UUID"
	labelPCIBusID   = "pci_bus_id"
	labelDevice     = "device"
	labelModelName  = "modelName"
	labelGIProfile  = "GPU_I_PROFILE"
	labelGIID       = "GPU_I_ID"
	labelHostname   = "Hostname"
	labelPod        = "pod"
	labelNamespace  = "namespace"
	labelContainer  = "container"
	labelVGPU       = "vgpu"
	labelXIDCode    = "err_code"
	labelXIDMessage = "err_msg"
)

// entity is a whole GPU or one MIG GPU instance, with its labels for this pass.
type entity struct {
	gpu  *gpuState
	mig  *migState // nil for a whole GPU
	base []*dto.LabelPair
	pods []podRef
}

// buildStats are by-products of building the exposition.
type buildStats struct {
	series    int
	unmatched int // attributed device ids that matched no GPU here
}

// build turns a pass's readings into metric families, one per counter in counter-list
// order, leaving out counters without any value. Series carry dcgm-exporter's labels in
// dcgm-exporter's order: gpu, UUID, pci_bus_id, device, modelName, [GPU_I_PROFILE,
// GPU_I_ID], Hostname, label counters (sorted), then container, err_code, err_msg,
// namespace, pod, vgpu (sorted), where they apply. The result is never modified later,
// so scrapes read it concurrently.
func build(specs []CounterSpec, sys nvml.System, hostname string, gpus []*gpuState, attr attribution) ([]*dto.MetricFamily, buildStats) {
	var st buildStats
	labelSpecs := make([]CounterSpec, 0, 4)
	for _, s := range specs {
		if s.f.src == fromLabel {
			labelSpecs = append(labelSpecs, s)
		}
	}
	slices.SortFunc(labelSpecs, func(a, b CounterSpec) int { return cmp.Compare(a.Name, b.Name) })

	matched := map[string]bool{}
	var ents []entity
	for _, g := range gpus {
		if g.lost || g.dev == nil {
			continue
		}
		base := gpuLabels(g.info, hostname)
		base = appendLabelCounters(base, labelSpecs, sys, g.info)
		keys := gpuKeys(g.info.UUID, g.info.Minor)
		ents = append(ents, entity{gpu: g, base: base, pods: attr.lookup(keys)})
		markMatched(matched, attr, keys)
		for _, gi := range slices.Sorted(maps.Keys(g.migs)) {
			m := g.migs[gi]
			mb := gpuLabels(g.info, "")
			mb = append(mb, pair(labelGIProfile, m.profile), pair(labelGIID, strconv.Itoa(m.gi)))
			if hostname != "" {
				mb = append(mb, pair(labelHostname, hostname))
			}
			mb = appendLabelCounters(mb, labelSpecs, sys, g.info)
			mk := migKeys(g.info.UUID, g.info.Minor, m.gi, m.uuids, m.cis)
			ents = append(ents, entity{gpu: g, mig: m, base: mb, pods: attr.lookup(mk)})
			markMatched(matched, attr, mk)
		}
	}
	for k := range attr {
		if !matched[k] {
			st.unmatched++
		}
	}

	var fams []*dto.MetricFamily
	for _, s := range specs {
		if s.f.src == fromLabel {
			continue
		}
		fam := &dto.MetricFamily{Name: proto.String(s.Name), Help: proto.String(s.Help), Type: promType(s.Type)}
		for _, e := range ents {
			v, extra, ok := value(s.f, e)
			if !ok {
				continue
			}
			if len(e.pods) == 0 {
				fam.Metric = append(fam.Metric, sample(s.Type, v, e.base, extra))
				continue
			}
			for _, p := range e.pods {
				attrs := append(slices.Clip(extra), podLabels(p)...)
				fam.Metric = append(fam.Metric, sample(s.Type, v, e.base, attrs))
			}
		}
		if len(fam.Metric) > 0 {
			st.series += len(fam.Metric)
			fams = append(fams, fam)
		}
	}
	return fams, st
}

func markMatched(matched map[string]bool, attr attribution, keys []string) {
	for _, k := range keys {
		if _, ok := attr[k]; ok {
			matched[k] = true
		}
	}
}

// value returns an entity's value of a field and the field's own extra labels.
func value(f *field, e entity) (float64, []*dto.LabelPair, bool) {
	switch f.src {
	case fromReadings:
		vals := e.gpu.values
		if e.mig != nil {
			if !f.mig {
				return 0, nil, false
			}
			vals = e.mig.values
		}
		var sum float64
		for _, r := range f.readings {
			v, ok := vals[r]
			if !ok {
				return 0, nil, false
			}
			sum += v
		}
		return f.scaled(sum), nil, true
	case fromGPM:
		vals := e.gpu.gpm.values
		if e.mig != nil {
			if !f.mig {
				return 0, nil, false
			}
			vals = e.mig.gpm.values
		}
		v, ok := vals[f.gpm]
		return f.scaled(v), nil, ok
	case fromXID:
		if e.mig != nil {
			return 0, nil, false
		}
		x := e.gpu.lastXID
		return float64(x), []*dto.LabelPair{pair(labelXIDCode, strconv.FormatUint(x, 10)), pair(labelXIDMessage, xidMessage(x))}, true
	}
	return 0, nil, false
}

func gpuLabels(d nvml.DeviceInfo, hostname string) []*dto.LabelPair {
	out := make([]*dto.LabelPair, 0, 12)
	out = append(out,
		pair(labelGPU, strconv.Itoa(d.Index)),
		pair(labelUUID, d.UUID),
		pair(labelPCIBusID, d.PCIBusID),
		pair(labelDevice, "nvidia"+strconv.Itoa(d.Index)),
		pair(labelModelName, d.Name),
	)
	if hostname != "" {
		out = append(out, pair(labelHostname, hostname))
	}
	return out
}

func appendLabelCounters(base []*dto.LabelPair, specs []CounterSpec, sys nvml.System, d nvml.DeviceInfo) []*dto.LabelPair {
	for _, s := range specs {
		// dcgm-exporter leaves out blank label values; so do we.
		if v := s.f.label(sys, d); v != "" {
			base = append(base, pair(s.Name, v))
		}
	}
	return base
}

func podLabels(p podRef) []*dto.LabelPair {
	out := []*dto.LabelPair{pair(labelContainer, p.Container), pair(labelNamespace, p.Namespace), pair(labelPod, p.Pod)}
	if p.VGPU != "" {
		out = append(out, pair(labelVGPU, p.VGPU))
	}
	return out
}

// sample builds one series; base is shared between series (label pairs are never
// modified after a pass), attrs are sorted by name and appended.
func sample(t MetricType, v float64, base, attrs []*dto.LabelPair) *dto.Metric {
	labels := base
	if len(attrs) > 0 {
		slices.SortFunc(attrs, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
		labels = make([]*dto.LabelPair, 0, len(base)+len(attrs))
		labels = append(append(labels, base...), attrs...)
	}
	m := &dto.Metric{Label: labels}
	if t == Counter {
		m.Counter = &dto.Counter{Value: proto.Float64(v)}
	} else {
		m.Gauge = &dto.Gauge{Value: proto.Float64(v)}
	}
	return m
}

func promType(t MetricType) *dto.MetricType {
	if t == Counter {
		return dto.MetricType_COUNTER.Enum()
	}
	return dto.MetricType_GAUGE.Enum()
}

func pair(name, value string) *dto.LabelPair {
	return &dto.LabelPair{Name: proto.String(name), Value: proto.String(strings.ToValidUTF8(value, "\uFFFD"))}
}
