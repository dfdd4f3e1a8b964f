// Package nvmlfake is an in-memory nvml.Library for tests: GPUs with set readings,
// MIG devices, GPM values, XID events, failing and vanishing GPUs. Safe for concurrent
// use: tests change it (under Update) while the exporter runs.
package nvmlfake

import (
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/sondehq/sonde/components/prometheus/exporter/gpu/nvml"
)

// Library is a fake NVML.
type Library struct {
	mu sync.Mutex

	// InitErr is returned by Init (e.g. wrapping nvml.ErrLibraryNotFound).
	InitErr error
	// CountErr is returned by DeviceCount once the session is open.
	CountErr error
	Sys      nvml.System
	GPUs     []*GPU

	events   []nvml.Event
	open     bool
	inits    int
	calls    int
	samplers int // GPM samplers not closed
	sets     int // event sets not closed
}

// GPU is a fake GPU.
type GPU struct {
	Info nvml.DeviceInfo
	// Values are the readings; a reading missing from Values and Errors is
	// nvml.ErrNotSupported.
	Values map[nvml.Reading]float64
	Errors map[nvml.Reading]error
	// Lost makes every call fail with nvml.ErrGPULost (the GPU fell off the bus).
	Lost bool
	// GPM values; nil means the GPU has no GPM (before Hopper).
	GPM map[nvml.GPMMetric]float64
	// MIGMode with MIG devices.
	MIGMode bool
	MIG     []*MIG
}

// MIG is a fake MIG device.
type MIG struct {
	Info   nvml.MIGInfo
	Values map[nvml.Reading]float64
	GPM    map[nvml.GPMMetric]float64
}

// Update runs f with the fake locked, for changes while the exporter runs.
func (l *Library) Update(f func(l *Library)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(l)
}

// Emit queues an XID event for the GPU with uuid.
func (l *Library) Emit(ev nvml.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ev)
}

// Stats reports whether a session is open, how many Init calls and NVML calls were made,
// and how many GPM samplers and event sets are not freed.
func (l *Library) Stats() (open bool, inits, calls, samplers, sets int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open, l.inits, l.calls, l.samplers, l.sets
}

func (l *Library) enter() func() {
	l.mu.Lock()
	l.calls++
	return l.mu.Unlock
}

var errClosed = nvml.NewError("fake", 1, "Uninitialized", nil)

func (l *Library) Init() error {
	defer l.enter()()
	l.inits++
	if l.InitErr != nil {
		return l.InitErr
	}
	l.open = true
	return nil
}

func (l *Library) Shutdown() error {
	defer l.enter()()
	if !l.open {
		return errClosed
	}
	l.open = false
	return nil
}

func (l *Library) System() (nvml.System, error) {
	defer l.enter()()
	if !l.open {
		return nvml.System{}, errClosed
	}
	return l.Sys, nil
}

func (l *Library) DeviceCount() (int, error) {
	defer l.enter()()
	if !l.open {
		return 0, errClosed
	}
	if l.CountErr != nil {
		return 0, l.CountErr
	}
	return len(l.GPUs), nil
}

func (l *Library) Device(i int) (nvml.Device, error) {
	defer l.enter()()
	if !l.open {
		return nil, errClosed
	}
	if i < 0 || i >= len(l.GPUs) {
		return nil, nvml.NewError("nvmlDeviceGetHandleByIndex", 2, "Invalid Argument", nil)
	}
	return &device{l: l, g: l.GPUs[i]}, nil
}

func (l *Library) NewEventSet() (nvml.EventSet, error) {
	defer l.enter()()
	if !l.open {
		return nil, errClosed
	}
	l.sets++
	return &eventSet{l: l, uuids: map[string]bool{}}, nil
}

func lost(op string) error { return nvml.NewError(op, 15, "GPU is lost", nvml.ErrGPULost) }

func notSupported(op string) error {
	return nvml.NewError(op, 3, "Not Supported", nvml.ErrNotSupported)
}

type device struct {
	l *Library
	g *GPU
}

func (d *device) Info() (nvml.DeviceInfo, error) {
	defer d.l.enter()()
	if d.g.Lost {
		return nvml.DeviceInfo{Index: d.g.Info.Index}, lost("nvmlDeviceGetUUID")
	}
	return d.g.Info, nil
}

func (d *device) Read(r nvml.Reading) (float64, error) {
	defer d.l.enter()()
	if d.g.Lost {
		return 0, lost("read")
	}
	return readValue(r, d.g.Values, d.g.Errors)
}

func readValue(r nvml.Reading, vals map[nvml.Reading]float64, errs map[nvml.Reading]error) (float64, error) {
	if err := errs[r]; err != nil {
		return 0, err
	}
	if v, ok := vals[r]; ok {
		return v, nil
	}
	return 0, notSupported(fmt.Sprintf("read %d", r))
}

func (d *device) MIGEnabled() (bool, error) {
	defer d.l.enter()()
	if d.g.Lost {
		return false, lost("nvmlDeviceGetMigMode")
	}
	return d.g.MIGMode, nil
}

func (d *device) MIGDevices() ([]nvml.MIGDevice, error) {
	defer d.l.enter()()
	if d.g.Lost {
		return nil, lost("nvmlDeviceGetMaxMigDeviceCount")
	}
	var out []nvml.MIGDevice
	for _, m := range d.g.MIG {
		out = append(out, &migDevice{l: d.l, g: d.g, m: m})
	}
	return out, nil
}

func (d *device) GPM() (nvml.GPM, error) {
	defer d.l.enter()()
	if d.g.Lost {
		return nil, lost("nvmlGpmQueryDeviceSupport")
	}
	if d.g.GPM == nil || d.g.MIGMode {
		return nil, notSupported("nvmlGpmQueryDeviceSupport")
	}
	d.l.samplers++
	return &gpm{l: d.l, g: d.g, values: func() map[nvml.GPMMetric]float64 { return d.g.GPM }}, nil
}

type migDevice struct {
	l *Library
	g *GPU
	m *MIG
}

func (m *migDevice) Info() (nvml.MIGInfo, error) {
	defer m.l.enter()()
	if m.g.Lost {
		return nvml.MIGInfo{}, lost("nvmlDeviceGetUUID")
	}
	return m.m.Info, nil
}

func (m *migDevice) Read(r nvml.Reading) (float64, error) {
	defer m.l.enter()()
	if m.g.Lost {
		return 0, lost("read")
	}
	return readValue(r, m.m.Values, nil)
}

func (m *migDevice) GPM() (nvml.GPM, error) {
	defer m.l.enter()()
	if m.g.Lost {
		return nil, lost("nvmlGpmQueryDeviceSupport")
	}
	if m.g.GPM == nil || m.m.GPM == nil {
		return nil, notSupported("nvmlGpmQueryDeviceSupport")
	}
	m.l.samplers++
	return &gpm{l: m.l, g: m.g, values: func() map[nvml.GPMMetric]float64 { return m.m.GPM }}, nil
}

// gpm returns ErrNoBaseline on its first sample, then the configured values.
type gpm struct {
	l        *Library
	g        *GPU
	values   func() map[nvml.GPMMetric]float64
	havePrev bool
	closed   bool
}

func (s *gpm) Sample(ids []nvml.GPMMetric) ([]float64, error) {
	defer s.l.enter()()
	if s.g.Lost {
		return nil, lost("nvmlGpmSampleGet")
	}
	if !s.havePrev {
		s.havePrev = true
		return nil, nvml.ErrNoBaseline
	}
	vals := s.values()
	out := make([]float64, len(ids))
	for i, id := range ids {
		v, ok := vals[id]
		if !ok {
			v = math.NaN()
		}
		out[i] = v
	}
	return out, nil
}

func (s *gpm) Close() error {
	defer s.l.enter()()
	if !s.closed {
		s.closed = true
		s.l.samplers--
	}
	return nil
}

type eventSet struct {
	l      *Library
	uuids  map[string]bool
	closed bool
}

func (e *eventSet) Register(dev nvml.Device) error {
	d := dev.(*device)
	defer e.l.enter()()
	if d.g.Lost {
		return lost("nvmlDeviceRegisterEvents")
	}
	e.uuids[d.g.Info.UUID] = true
	return nil
}

func (e *eventSet) Poll(max int) ([]nvml.Event, error) {
	defer e.l.enter()()
	var out []nvml.Event
	keep := e.l.events[:0]
	for _, ev := range e.l.events {
		if len(out) < max && e.uuids[ev.UUID] {
			out = append(out, ev)
			continue
		}
		keep = append(keep, ev)
	}
	e.l.events = slices.Clip(keep)
	return out, nil
}

func (e *eventSet) Close() error {
	defer e.l.enter()()
	if !e.closed {
		e.closed = true
		e.l.sets--
	}
	return nil
}
