package gpu

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/sondehq/sonde/components/prometheus/exporter/gpu/nvml"
)

// maxEventsPerPass bounds the XID events drained in one pass; the rest wait in NVML's
// queue for the next one.
const maxEventsPerPass = 256

// collector reads NVML. It owns an NVML session between open and close and keeps, per
// GPU, what does not change while the driver is loaded (identity, unsupported readings)
// and what spans passes (GPM samples, the last XID). One goroutine uses it at a time.
type collector struct {
	lib    nvml.Library
	logger *slog.Logger
	m      *metrics // nil in gpucheck

	specs    []CounterSpec
	readings []nvml.Reading   // readings any spec needs, for whole GPUs
	migReads []nvml.Reading   // … for MIG GPU instances
	gpmIDs   []nvml.GPMMetric // GPM metrics any spec needs
	migGPM   []nvml.GPMMetric

	open    bool
	sys     nvml.System
	gpus    map[string]*gpuState // by UUID
	byIndex map[int]string       // UUID last seen at each NVML index
	events  nvml.EventSet
	evUUIDs []string // GPUs registered with events, sorted
}

// gpuState is what the collector keeps about one GPU across passes.
type gpuState struct {
	info        nvml.DeviceInfo
	dev         nvml.Device
	seen        bool // present in the current pass
	lost        bool // fell off the bus; reads are skipped until NVML is opened again
	lostLogged  bool
	errors      []string // this pass's problems, for the health message
	lastXID     uint64
	unsupported map[nvml.Reading]bool
	values      map[nvml.Reading]float64 // this pass
	gpm         gpmState
	migs        map[int]*migState // by GPU instance id, this pass
}

// migState is one MIG GPU instance (dcgm-exporter's GPU_I entity).
type migState struct {
	gi          int
	profile     string
	dev         nvml.MIGDevice // the first compute instance's MIG device
	uuids       []string
	cis         []int
	unsupported map[nvml.Reading]bool
	values      map[nvml.Reading]float64
	gpm         gpmState
	seen        bool
}

// gpmState is a GPM sampler and its last values.
type gpmState struct {
	sampler     nvml.GPM
	unsupported bool
	values      map[nvml.GPMMetric]float64
}

func newCollector(lib nvml.Library, logger *slog.Logger, m *metrics, specs []CounterSpec) *collector {
	c := &collector{lib: lib, logger: logger, m: m}
	c.setSpecs(specs)
	return c
}

// setSpecs changes the counter list; it takes effect at the next pass.
func (c *collector) setSpecs(specs []CounterSpec) {
	c.specs = specs
	rs, mrs := map[nvml.Reading]bool{}, map[nvml.Reading]bool{}
	gs, mgs := map[nvml.GPMMetric]bool{}, map[nvml.GPMMetric]bool{}
	for _, s := range specs {
		for _, r := range s.f.readings {
			rs[r] = true
			if s.f.mig {
				mrs[r] = true
			}
		}
		if s.f.src == fromGPM {
			gs[s.f.gpm] = true
			if s.f.mig {
				mgs[s.f.gpm] = true
			}
		}
	}
	c.readings, c.migReads = slices.Sorted(maps.Keys(rs)), slices.Sorted(maps.Keys(mrs))
	c.gpmIDs, c.migGPM = slices.Sorted(maps.Keys(gs)), slices.Sorted(maps.Keys(mgs))
}

// errUnavailable is an NVML state in which there is nothing to collect: no library, no
// driver, no GPU. The message says which.
type errUnavailable struct{ msg string }

func (e *errUnavailable) Error() string { return e.msg }

// openSession initialises NVML. It returns *errUnavailable when this node has no usable
// driver or GPU.
func (c *collector) openSession() error {
	if c.open {
		return nil
	}
	if err := c.lib.Init(); err != nil {
		return &errUnavailable{msg: unavailableMessage(err)}
	}
	sys, err := c.lib.System()
	if err != nil {
		_ = c.lib.Shutdown()
		return &errUnavailable{msg: "NVML loaded but the driver version is unreadable: " + err.Error()}
	}
	n, err := c.lib.DeviceCount()
	if err != nil {
		_ = c.lib.Shutdown()
		return &errUnavailable{msg: "NVML cannot count GPUs: " + err.Error()}
	}
	if n == 0 {
		_ = c.lib.Shutdown()
		return &errUnavailable{msg: "no NVIDIA GPU found (driver " + sys.DriverVersion + ")"}
	}
	c.open, c.sys = true, sys
	c.gpus, c.byIndex = map[string]*gpuState{}, map[int]string{}
	return nil
}

// unavailableMessage explains why NVML cannot be used, for the health message.
func unavailableMessage(err error) string {
	switch {
	case errors.Is(err, nvml.ErrLibraryNotFound):
		return "NVIDIA driver library (libnvidia-ml.so.1) not found: no NVIDIA driver on this node, or it is not mounted into the container"
	case errors.Is(err, nvml.ErrDriverNotLoaded):
		return "NVIDIA driver not loaded"
	case errors.Is(err, nvml.ErrNoPermission):
		return "no permission to use the NVIDIA driver (access to /dev/nvidia*?)"
	}
	return "NVML initialisation failed: " + err.Error()
}

// closeSession frees everything NVML handed out and shuts NVML down.
func (c *collector) closeSession() {
	if !c.open {
		return
	}
	for _, g := range c.gpus {
		g.close()
	}
	c.closeEvents()
	if err := c.lib.Shutdown(); err != nil {
		c.logger.Warn("NVML shutdown failed", "err", err)
	}
	c.open, c.gpus, c.byIndex = false, nil, nil
}

func (g *gpuState) close() {
	g.gpm.close()
	for _, m := range g.migs {
		m.gpm.close()
	}
}

func (s *gpmState) close() {
	if s.sampler != nil {
		_ = s.sampler.Close()
		s.sampler = nil
	}
	clear(s.values)
}

// errSessionLost means NVML stopped working as a whole (driver unloaded); the caller
// closes the session and treats the node as unavailable.
var errSessionLost = errors.New("NVML session lost")

// pass reads every GPU once. The returned GPUs are in NVML index order.
func (c *collector) pass() ([]*gpuState, error) {
	n, err := c.lib.DeviceCount()
	if err != nil {
		if errors.Is(err, nvml.ErrDriverNotLoaded) || errors.Is(err, nvml.ErrLibraryNotFound) {
			return nil, fmt.Errorf("%w: %v", errSessionLost, err)
		}
		c.countError("", reasonNVML)
		return nil, err
	}
	for _, g := range c.gpus {
		g.seen, g.errors = false, g.errors[:0]
	}
	var out []*gpuState
	for i := 0; i < n; i++ {
		if g := c.device(i); g != nil {
			out = append(out, g)
		}
	}
	// Forget GPUs that are gone (hot-unplugged, or NVML renumbered them).
	for uuid, g := range c.gpus {
		if !g.seen {
			c.logger.Warn("GPU vanished", "gpu", g.info.Index, "uuid", uuid)
			g.close()
			delete(c.gpus, uuid)
		}
	}
	c.pollEvents()
	c.syncEvents(out)
	for _, g := range out {
		c.readGPU(g)
	}
	return out, nil
}

// device opens GPU i and returns its state, or nil when it cannot be identified (its
// failure is counted against the index, and reported against the last GPU seen there).
func (c *collector) device(i int) *gpuState {
	dev, err := c.lib.Device(i)
	var info nvml.DeviceInfo
	if err == nil {
		info, err = dev.Info()
	}
	if err != nil {
		reason := reasonEnumerate
		if errors.Is(err, nvml.ErrGPULost) {
			reason = reasonGPULost
		}
		c.countError(strconv.Itoa(i), reason)
		if g := c.gpus[c.byIndex[i]]; g != nil {
			g.seen, g.lost = true, g.lost || reason == reasonGPULost
			g.noteError(err)
			c.logLost(g, err)
			return g
		}
		c.logger.Warn("GPU cannot be opened", "gpu", i, "err", err)
		return nil
	}
	g := c.gpus[info.UUID]
	if g == nil {
		g = &gpuState{info: info, unsupported: map[nvml.Reading]bool{}, values: map[nvml.Reading]float64{}, migs: map[int]*migState{}}
		c.gpus[info.UUID] = g
		c.logger.Info("GPU found", "gpu", info.Index, "uuid", info.UUID, "model", info.Name, "pci_bus_id", info.PCIBusID)
	}
	g.info, g.dev, g.seen = info, dev, true
	c.byIndex[i] = info.UUID
	return g
}

func (g *gpuState) noteError(err error) {
	if len(g.errors) < 4 {
		g.errors = append(g.errors, err.Error())
	}
}

func (c *collector) logLost(g *gpuState, err error) {
	if g.lost && !g.lostLogged {
		g.lostLogged = true
		c.logger.Error("GPU lost; its series are dropped until the driver recovers", "gpu", g.info.Index, "uuid", g.info.UUID, "err", err)
	}
}

func (c *collector) countError(gpu, reason string) {
	if c.m != nil {
		c.m.errors.WithLabelValues(gpu, reason).Inc()
	}
}

// readGPU reads one GPU and its MIG instances. A failure is counted once per GPU and
// reason; a lost GPU is not read at all.
func (c *collector) readGPU(g *gpuState) {
	clear(g.values)
	if g.lost || g.dev == nil {
		return
	}
	idx := strconv.Itoa(g.info.Index)
	failed := map[string]bool{}
	fail := func(reason string, err error) {
		if !failed[reason] {
			failed[reason] = true
			c.countError(idx, reason)
			g.noteError(err)
		}
	}
	for _, r := range c.readings {
		if g.unsupported[r] {
			continue
		}
		v, err := g.dev.Read(r)
		switch {
		case err == nil:
			g.values[r] = v
		case errors.Is(err, nvml.ErrNotSupported):
			g.unsupported[r] = true
			c.logger.Debug("reading not supported by this GPU", "gpu", g.info.Index, "reading", r, "err", err)
		case errors.Is(err, nvml.ErrGPULost):
			g.lost = true
			clear(g.values)
			fail(reasonGPULost, err)
			c.logLost(g, err)
			g.close()
			return
		default:
			fail(reasonNVML, err)
		}
	}
	c.sampleGPM(&g.gpm, c.gpmIDs, g.dev.GPM, func(err error) { fail(reasonGPM, err) })
	c.readMIG(g, func(err error) { fail(reasonMIG, err) })
}

// sampleGPM takes a GPM sample; values are those of the interval since the last one.
func (c *collector) sampleGPM(s *gpmState, ids []nvml.GPMMetric, open func() (nvml.GPM, error), fail func(error)) {
	if s.values == nil {
		s.values = map[nvml.GPMMetric]float64{}
	}
	clear(s.values)
	if len(ids) == 0 || s.unsupported {
		return
	}
	if s.sampler == nil {
		g, err := open()
		if errors.Is(err, nvml.ErrNotSupported) {
			s.unsupported = true
			return
		}
		if err != nil {
			fail(err)
			return
		}
		s.sampler = g
	}
	vals, err := s.sampler.Sample(ids)
	switch {
	case errors.Is(err, nvml.ErrNoBaseline):
		return
	case errors.Is(err, nvml.ErrNotSupported):
		s.unsupported = true
		s.close()
		return
	case err != nil:
		fail(err)
		s.close() // start again from a fresh pair of samples
		return
	}
	for i, id := range ids {
		if i < len(vals) && !math.IsNaN(vals[i]) {
			s.values[id] = vals[i]
		}
	}
}

// readMIG lists the GPU instances of a GPU in MIG mode and reads each.
func (c *collector) readMIG(g *gpuState, fail func(error)) {
	for _, m := range g.migs {
		m.seen = false
	}
	defer func() {
		for gi, m := range g.migs {
			if !m.seen {
				m.gpm.close()
				delete(g.migs, gi)
			}
		}
	}()
	on, err := g.dev.MIGEnabled()
	if err != nil {
		fail(err)
		return
	}
	if !on {
		return
	}
	devs, err := g.dev.MIGDevices()
	if err != nil {
		fail(err)
	}
	for _, d := range devs {
		info, err := d.Info()
		if err != nil {
			fail(err)
			continue
		}
		m := g.migs[info.GPUInstanceID]
		if m == nil {
			m = &migState{gi: info.GPUInstanceID, unsupported: map[nvml.Reading]bool{}, values: map[nvml.Reading]float64{}}
			g.migs[info.GPUInstanceID] = m
		}
		if !m.seen {
			m.seen, m.dev, m.profile = true, d, info.Profile
			m.uuids, m.cis = m.uuids[:0], m.cis[:0]
		}
		m.uuids = append(m.uuids, info.UUID)
		m.cis = append(m.cis, info.ComputeInstanceID)
	}
	for _, m := range g.migs {
		if !m.seen {
			continue
		}
		clear(m.values)
		for _, r := range c.migReads {
			if m.unsupported[r] {
				continue
			}
			v, err := m.dev.Read(r)
			switch {
			case err == nil:
				m.values[r] = v
			case errors.Is(err, nvml.ErrNotSupported):
				m.unsupported[r] = true
			default:
				fail(err)
			}
		}
		c.sampleGPM(&m.gpm, c.migGPM, m.dev.GPM, fail)
	}
}

// problems lists this pass's GPU failures for the health message.
func problems(gpus []*gpuState) []string {
	var out []string
	for _, g := range gpus {
		if len(g.errors) == 0 && !g.lost {
			continue
		}
		state := "errors"
		if g.lost {
			state = "lost"
		}
		msg := fmt.Sprintf("GPU %d (%s) %s", g.info.Index, g.info.UUID, state)
		if len(g.errors) > 0 {
			msg += ": " + strings.Join(g.errors, "; ")
		}
		out = append(out, msg)
	}
	return out
}
