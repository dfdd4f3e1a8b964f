//go:build cgo

package nvml

import (
	"encoding/binary"
	"errors"
	"math"
	"strings"

	gonvml "github.com/NVIDIA/go-nvml/pkg/nvml"
)

// New returns the real NVML backend. libraryPath is the libnvidia-ml shared object to
// load; empty means the dynamic linker's search for libnvidia-ml.so.1. Nothing is loaded
// until Init.
func New(libraryPath string) Library {
	var opts []gonvml.LibraryOption
	if libraryPath != "" {
		opts = append(opts, gonvml.WithLibraryPath(libraryPath))
	}
	return &library{nv: gonvml.New(opts...)}
}

// library is the go-nvml backed Library. Calls into a symbol the loaded driver lacks
// would abort the process (go-nvml binds lazily), so entry points newer than the oldest
// supported drivers are looked up before their first use (see has).
type library struct {
	nv      gonvml.Interface
	symbols map[string]bool
	devices map[int]*device
}

func (l *library) Init() error {
	if ret := l.nv.Init(); ret != gonvml.SUCCESS {
		return wrap("nvmlInit", ret)
	}
	l.symbols = map[string]bool{}
	l.devices = map[int]*device{}
	return nil
}

func (l *library) Shutdown() error {
	l.symbols, l.devices = nil, nil
	if ret := l.nv.Shutdown(); ret != gonvml.SUCCESS {
		return wrap("nvmlShutdown", ret)
	}
	return nil
}

// has reports whether the loaded library exports symbol.
func (l *library) has(symbol string) bool {
	ok, seen := l.symbols[symbol]
	if !seen {
		ok = l.nv.Extensions().LookupSymbol(symbol) == nil
		l.symbols[symbol] = ok
	}
	return ok
}

func (l *library) System() (System, error) {
	var s System
	v, ret := l.nv.SystemGetDriverVersion()
	if ret != gonvml.SUCCESS {
		return s, wrap("nvmlSystemGetDriverVersion", ret)
	}
	s.DriverVersion = v
	if v, ret := l.nv.SystemGetNVMLVersion(); ret == gonvml.SUCCESS {
		s.NVMLVersion = v
	}
	return s, nil
}

func (l *library) DeviceCount() (int, error) {
	n, ret := l.nv.DeviceGetCount()
	if ret != gonvml.SUCCESS {
		return 0, wrap("nvmlDeviceGetCount", ret)
	}
	return n, nil
}

func (l *library) Device(i int) (Device, error) {
	if d := l.devices[i]; d != nil {
		return d, nil
	}
	h, ret := l.nv.DeviceGetHandleByIndex(i)
	if ret != gonvml.SUCCESS {
		return nil, wrap("nvmlDeviceGetHandleByIndex", ret)
	}
	d := &device{lib: l, h: h, index: i}
	l.devices[i] = d
	return d, nil
}

func (l *library) NewEventSet() (EventSet, error) {
	set, ret := l.nv.EventSetCreate()
	if ret != gonvml.SUCCESS {
		return nil, wrap("nvmlEventSetCreate", ret)
	}
	return &eventSet{set: set, uuids: map[gonvml.Device]string{}}, nil
}

// device is one GPU; its identity is read once per NVML session.
type device struct {
	lib   *library
	h     gonvml.Device
	index int
	info  *DeviceInfo
}

func (d *device) Info() (DeviceInfo, error) {
	if d.info != nil {
		return *d.info, nil
	}
	uuid, ret := d.h.GetUUID()
	if ret != gonvml.SUCCESS {
		return DeviceInfo{Index: d.index}, wrap("nvmlDeviceGetUUID", ret)
	}
	info := DeviceInfo{Index: d.index, UUID: uuid, Minor: -1}
	if v, ret := d.h.GetName(); ret == gonvml.SUCCESS {
		info.Name = v
	}
	if v, ret := d.h.GetPciInfo(); ret == gonvml.SUCCESS {
		info.PCIBusID = cString(v.BusId[:])
	}
	if v, ret := d.h.GetMinorNumber(); ret == gonvml.SUCCESS {
		info.Minor = v
	}
	if v, ret := d.h.GetSerial(); ret == gonvml.SUCCESS {
		info.Serial = v
	}
	if v, ret := d.h.GetVbiosVersion(); ret == gonvml.SUCCESS {
		info.VBIOS = v
	}
	if v, ret := d.h.GetBrand(); ret == gonvml.SUCCESS {
		info.Brand = brandName(v)
	}
	d.info = &info
	return info, nil
}

func (d *device) Read(r Reading) (float64, error) { return read(d.lib, d.h, r, false) }

func (d *device) MIGEnabled() (bool, error) {
	if !d.lib.has("nvmlDeviceGetMigMode") {
		return false, nil
	}
	cur, _, ret := d.h.GetMigMode()
	switch ret {
	case gonvml.SUCCESS:
		return cur == gonvml.DEVICE_MIG_ENABLE, nil
	case gonvml.ERROR_NOT_SUPPORTED:
		return false, nil
	}
	return false, wrap("nvmlDeviceGetMigMode", ret)
}

func (d *device) MIGDevices() ([]MIGDevice, error) {
	n, ret := d.h.GetMaxMigDeviceCount()
	if ret != gonvml.SUCCESS {
		return nil, wrap("nvmlDeviceGetMaxMigDeviceCount", ret)
	}
	var out []MIGDevice
	for i := 0; i < n; i++ {
		h, ret := d.h.GetMigDeviceHandleByIndex(i)
		switch ret {
		case gonvml.SUCCESS:
			out = append(out, &migDevice{parent: d, h: h})
		case gonvml.ERROR_NOT_FOUND, gonvml.ERROR_INVALID_ARGUMENT:
			// An empty slot: MIG devices need not be contiguous.
		default:
			return out, wrap("nvmlDeviceGetMigDeviceHandleByIndex", ret)
		}
	}
	return out, nil
}

func (d *device) GPM() (GPM, error) {
	if err := d.gpmSupported(); err != nil {
		return nil, err
	}
	return &gpm{lib: d.lib, get: func(s gonvml.GpmSample) gonvml.Return { return s.Get(d.h) }}, nil
}

func (d *device) gpmSupported() error {
	for _, s := range []string{"nvmlGpmQueryDeviceSupport", "nvmlGpmSampleAlloc", "nvmlGpmSampleGet", "nvmlGpmMetricsGet", "nvmlGpmSampleFree"} {
		if !d.lib.has(s) {
			return NewError(s, int(gonvml.ERROR_FUNCTION_NOT_FOUND), "not in this driver", ErrNotSupported)
		}
	}
	sup, ret := d.h.GpmQueryDeviceSupport()
	if ret != gonvml.SUCCESS {
		return wrap("nvmlGpmQueryDeviceSupport", ret)
	}
	if sup.IsSupportedDevice == 0 {
		return NewError("nvmlGpmQueryDeviceSupport", int(gonvml.ERROR_NOT_SUPPORTED), "GPM not supported by this GPU", ErrNotSupported)
	}
	return nil
}

// migDevice is a MIG device (compute instance) of a GPU.
type migDevice struct {
	parent *device
	h      gonvml.Device
	info   *MIGInfo
}

func (m *migDevice) Info() (MIGInfo, error) {
	if m.info != nil {
		return *m.info, nil
	}
	uuid, ret := m.h.GetUUID()
	if ret != gonvml.SUCCESS {
		return MIGInfo{}, wrap("nvmlDeviceGetUUID", ret)
	}
	gi, ret := m.h.GetGpuInstanceId()
	if ret != gonvml.SUCCESS {
		return MIGInfo{}, wrap("nvmlDeviceGetGpuInstanceId", ret)
	}
	ci, ret := m.h.GetComputeInstanceId()
	if ret != gonvml.SUCCESS {
		return MIGInfo{}, wrap("nvmlDeviceGetComputeInstanceId", ret)
	}
	info := MIGInfo{UUID: uuid, GPUInstanceID: gi, ComputeInstanceID: ci}
	// A MIG device's name ends in its profile: "NVIDIA A100-SXM4-40GB MIG 1g.5gb".
	if name, ret := m.h.GetName(); ret == gonvml.SUCCESS {
		if i := strings.LastIndex(name, "MIG "); i >= 0 {
			info.Profile = strings.TrimSpace(name[i+len("MIG "):])
		}
	}
	if info.Profile == "" {
		if a, ret := m.h.GetAttributes(); ret == gonvml.SUCCESS {
			info.Profile = ProfileName(a.GpuInstanceSliceCount, a.MemorySizeMB)
		}
	}
	m.info = &info
	return info, nil
}

func (m *migDevice) Read(r Reading) (float64, error) { return read(m.parent.lib, m.h, r, true) }

func (m *migDevice) GPM() (GPM, error) {
	if err := m.parent.gpmSupported(); err != nil {
		return nil, err
	}
	if !m.parent.lib.has("nvmlGpmMigSampleGet") {
		return nil, NewError("nvmlGpmMigSampleGet", int(gonvml.ERROR_FUNCTION_NOT_FOUND), "not in this driver", ErrNotSupported)
	}
	info, err := m.Info()
	if err != nil {
		return nil, err
	}
	parent := m.parent.h
	return &gpm{lib: m.parent.lib, get: func(s gonvml.GpmSample) gonvml.Return { return s.MigGet(parent, info.GPUInstanceID) }}, nil
}

// gpm keeps two samples and alternates between them.
type gpm struct {
	lib       *library
	get       func(gonvml.GpmSample) gonvml.Return
	prev, cur gonvml.GpmSample
	havePrev  bool
	req       gonvml.GpmMetricsGetType
}

func (g *gpm) Sample(ids []GPMMetric) ([]float64, error) {
	if g.cur == nil {
		for _, s := range []*gonvml.GpmSample{&g.prev, &g.cur} {
			v, ret := g.lib.nv.GpmSampleAlloc()
			if ret != gonvml.SUCCESS {
				_ = g.Close()
				return nil, wrap("nvmlGpmSampleAlloc", ret)
			}
			*s = v
		}
	}
	if ret := g.get(g.cur); ret != gonvml.SUCCESS {
		g.havePrev = false
		return nil, wrap("nvmlGpmSampleGet", ret)
	}
	if !g.havePrev {
		g.prev, g.cur, g.havePrev = g.cur, g.prev, true
		return nil, ErrNoBaseline
	}
	if len(ids) > len(g.req.Metrics) {
		ids = ids[:len(g.req.Metrics)]
	}
	g.req.NumMetrics = uint32(len(ids))
	g.req.Sample1, g.req.Sample2 = g.prev, g.cur
	for i, id := range ids {
		g.req.Metrics[i] = gonvml.GpmMetric{MetricId: uint32(id)}
	}
	ret := g.lib.nv.GpmMetricsGet(&g.req)
	g.prev, g.cur = g.cur, g.prev
	if ret != gonvml.SUCCESS {
		return nil, wrap("nvmlGpmMetricsGet", ret)
	}
	out := make([]float64, len(ids))
	for i := range ids {
		m := g.req.Metrics[i]
		if gonvml.Return(m.NvmlReturn) != gonvml.SUCCESS || math.IsNaN(m.Value) || math.IsInf(m.Value, 0) {
			out[i] = math.NaN()
			continue
		}
		out[i] = m.Value
	}
	return out, nil
}

func (g *gpm) Close() error {
	var errs []error
	for _, s := range []*gonvml.GpmSample{&g.prev, &g.cur} {
		if *s != nil {
			if ret := (*s).Free(); ret != gonvml.SUCCESS {
				errs = append(errs, wrap("nvmlGpmSampleFree", ret))
			}
			*s = nil
		}
	}
	g.havePrev = false
	return errors.Join(errs...)
}

// eventSet is an NVML event set registered for XID critical errors.
type eventSet struct {
	set   gonvml.EventSet
	uuids map[gonvml.Device]string
}

func (e *eventSet) Register(dev Device) error {
	d, ok := dev.(*device)
	if !ok {
		return errors.New("nvml: Register: not a real device")
	}
	types, ret := d.h.GetSupportedEventTypes()
	if ret != gonvml.SUCCESS {
		return wrap("nvmlDeviceGetSupportedEventTypes", ret)
	}
	if types&gonvml.EventTypeXidCriticalError == 0 {
		return NewError("nvmlDeviceRegisterEvents", int(gonvml.ERROR_NOT_SUPPORTED), "XID events not supported", ErrNotSupported)
	}
	if ret := d.h.RegisterEvents(gonvml.EventTypeXidCriticalError, e.set); ret != gonvml.SUCCESS {
		return wrap("nvmlDeviceRegisterEvents", ret)
	}
	info, err := d.Info()
	if err != nil {
		return err
	}
	e.uuids[d.h] = info.UUID
	return nil
}

func (e *eventSet) Poll(max int) ([]Event, error) {
	var out []Event
	for len(out) < max {
		data, ret := e.set.Wait(0)
		switch ret {
		case gonvml.SUCCESS:
		case gonvml.ERROR_TIMEOUT:
			return out, nil
		default:
			return out, wrap("nvmlEventSetWait", ret)
		}
		if data.EventType&gonvml.EventTypeXidCriticalError == 0 {
			continue
		}
		ev := Event{XID: data.EventData, GPUInstanceID: instanceID(data.GpuInstanceId), ComputeInstanceID: instanceID(data.ComputeInstanceId)}
		if data.Device != nil {
			ev.UUID = e.uuids[data.Device]
		}
		out = append(out, ev)
	}
	return out, nil
}

func (e *eventSet) Close() error {
	if ret := e.set.Free(); ret != gonvml.SUCCESS {
		return wrap("nvmlEventSetFree", ret)
	}
	return nil
}

// read performs one Reading on a GPU or MIG device handle.
func read(l *library, h gonvml.Device, r Reading, mig bool) (float64, error) {
	v, op, ret := readRaw(l, h, r)
	switch {
	case ret == gonvml.SUCCESS:
		return v, nil
	case mig && ret == gonvml.ERROR_INVALID_ARGUMENT:
		// MIG device handles answer device-wide queries with INVALID_ARGUMENT.
		return 0, NewError(op, int(ret), "not available on a MIG device", ErrNotSupported)
	}
	return 0, wrap(op, ret)
}

// notInDriver is returned for entry points the loaded driver does not export.
const notInDriver = gonvml.ERROR_FUNCTION_NOT_FOUND

func readRaw(l *library, h gonvml.Device, r Reading) (float64, string, gonvml.Return) {
	switch r {
	case ClockSMMHz:
		v, ret := h.GetClockInfo(gonvml.CLOCK_SM)
		return float64(v), "nvmlDeviceGetClockInfo", ret
	case ClockMemMHz:
		v, ret := h.GetClockInfo(gonvml.CLOCK_MEM)
		return float64(v), "nvmlDeviceGetClockInfo", ret
	case TempGPUCelsius:
		v, ret := h.GetTemperature(gonvml.TEMPERATURE_GPU)
		return float64(v), "nvmlDeviceGetTemperature", ret
	case TempMemoryCelsius:
		return field(l, h, gonvml.FI_DEV_MEMORY_TEMP, 0)
	case PowerMilliwatts:
		v, ret := h.GetPowerUsage()
		return float64(v), "nvmlDeviceGetPowerUsage", ret
	case EnergyMillijoules:
		if !l.has("nvmlDeviceGetTotalEnergyConsumption") {
			return 0, "nvmlDeviceGetTotalEnergyConsumption", notInDriver
		}
		v, ret := h.GetTotalEnergyConsumption()
		return float64(v), "nvmlDeviceGetTotalEnergyConsumption", ret
	case UtilGPUPercent, UtilMemoryPercent:
		u, ret := h.GetUtilizationRates()
		if r == UtilGPUPercent {
			return float64(u.Gpu), "nvmlDeviceGetUtilizationRates", ret
		}
		return float64(u.Memory), "nvmlDeviceGetUtilizationRates", ret
	case UtilEncoderPercent:
		v, _, ret := h.GetEncoderUtilization()
		return float64(v), "nvmlDeviceGetEncoderUtilization", ret
	case UtilDecoderPercent:
		v, _, ret := h.GetDecoderUtilization()
		return float64(v), "nvmlDeviceGetDecoderUtilization", ret
	case FBFreeBytes, FBUsedBytes, FBReservedBytes, FBTotalBytes:
		return memory(l, h, r)
	case PCIeTxKBps:
		v, ret := h.GetPcieThroughput(gonvml.PCIE_UTIL_TX_BYTES)
		return float64(v), "nvmlDeviceGetPcieThroughput", ret
	case PCIeRxKBps:
		v, ret := h.GetPcieThroughput(gonvml.PCIE_UTIL_RX_BYTES)
		return float64(v), "nvmlDeviceGetPcieThroughput", ret
	case PCIeReplays:
		v, ret := h.GetPcieReplayCounter()
		return float64(v), "nvmlDeviceGetPcieReplayCounter", ret
	case RemappedRowsCorrectable, RemappedRowsUncorrectable, RemapPending, RemapFailed:
		if !l.has("nvmlDeviceGetRemappedRows") {
			return 0, "nvmlDeviceGetRemappedRows", notInDriver
		}
		corr, unc, pending, failed, ret := h.GetRemappedRows()
		switch r {
		case RemappedRowsCorrectable:
			return float64(corr), "nvmlDeviceGetRemappedRows", ret
		case RemappedRowsUncorrectable:
			return float64(unc), "nvmlDeviceGetRemappedRows", ret
		case RemapPending:
			return boolValue(pending), "nvmlDeviceGetRemappedRows", ret
		}
		return boolValue(failed), "nvmlDeviceGetRemappedRows", ret
	case NVLinkDataTxKiB:
		// Scope UINT_MAX asks for the sum over all links.
		return field(l, h, gonvml.FI_DEV_NVLINK_THROUGHPUT_DATA_TX, math.MaxUint32)
	case NVLinkDataRxKiB:
		return field(l, h, gonvml.FI_DEV_NVLINK_THROUGHPUT_DATA_RX, math.MaxUint32)
	case NVLinkCRCFlitErrors:
		return field(l, h, gonvml.FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL, 0)
	case NVLinkCRCDataErrors:
		return field(l, h, gonvml.FI_DEV_NVLINK_CRC_DATA_ERROR_COUNT_TOTAL, 0)
	case NVLinkReplayErrors:
		return field(l, h, gonvml.FI_DEV_NVLINK_REPLAY_ERROR_COUNT_TOTAL, 0)
	case NVLinkRecoveryErrors:
		return field(l, h, gonvml.FI_DEV_NVLINK_RECOVERY_ERROR_COUNT_TOTAL, 0)
	case ECCSBEVolatile:
		v, ret := h.GetTotalEccErrors(gonvml.MEMORY_ERROR_TYPE_CORRECTED, gonvml.VOLATILE_ECC)
		return float64(v), "nvmlDeviceGetTotalEccErrors", ret
	case ECCDBEVolatile:
		v, ret := h.GetTotalEccErrors(gonvml.MEMORY_ERROR_TYPE_UNCORRECTED, gonvml.VOLATILE_ECC)
		return float64(v), "nvmlDeviceGetTotalEccErrors", ret
	case ECCSBEAggregate:
		v, ret := h.GetTotalEccErrors(gonvml.MEMORY_ERROR_TYPE_CORRECTED, gonvml.AGGREGATE_ECC)
		return float64(v), "nvmlDeviceGetTotalEccErrors", ret
	case ECCDBEAggregate:
		v, ret := h.GetTotalEccErrors(gonvml.MEMORY_ERROR_TYPE_UNCORRECTED, gonvml.AGGREGATE_ECC)
		return float64(v), "nvmlDeviceGetTotalEccErrors", ret
	case RetiredPagesSBE:
		v, ret := h.GetRetiredPages(gonvml.PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS)
		return float64(len(v)), "nvmlDeviceGetRetiredPages", ret
	case RetiredPagesDBE:
		v, ret := h.GetRetiredPages(gonvml.PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR)
		return float64(len(v)), "nvmlDeviceGetRetiredPages", ret
	case RetiredPagesPending:
		v, ret := h.GetRetiredPagesPendingStatus()
		return boolValue(v == gonvml.FEATURE_ENABLED), "nvmlDeviceGetRetiredPagesPendingStatus", ret
	case ViolationPowerNs:
		return violation(h, gonvml.PERF_POLICY_POWER)
	case ViolationThermalNs:
		return violation(h, gonvml.PERF_POLICY_THERMAL)
	case ViolationSyncBoostNs:
		return violation(h, gonvml.PERF_POLICY_SYNC_BOOST)
	case ViolationBoardLimitNs:
		return violation(h, gonvml.PERF_POLICY_BOARD_LIMIT)
	case ViolationLowUtilNs:
		return violation(h, gonvml.PERF_POLICY_LOW_UTILIZATION)
	case ViolationReliabilityNs:
		return violation(h, gonvml.PERF_POLICY_RELIABILITY)
	case VGPULicensed:
		mode, ret := h.GetVirtualizationMode()
		if ret != gonvml.SUCCESS {
			return 0, "nvmlDeviceGetVirtualizationMode", ret
		}
		if mode != gonvml.GPU_VIRTUALIZATION_MODE_VGPU {
			// Not a vGPU guest: DCGM (and so dcgm-exporter) reports 0.
			return 0, "", gonvml.SUCCESS
		}
		f, ret := h.GetGridLicensableFeatures()
		if ret != gonvml.SUCCESS {
			return 0, "nvmlDeviceGetGridLicensableFeatures", ret
		}
		for i := 0; i < int(f.LicensableFeaturesCount) && i < len(f.GridLicensableFeatures); i++ {
			if f.GridLicensableFeatures[i].FeatureState == 1 {
				return 1, "", gonvml.SUCCESS
			}
		}
		return 0, "", gonvml.SUCCESS
	}
	return 0, "read", gonvml.ERROR_NOT_SUPPORTED
}

func memory(l *library, h gonvml.Device, r Reading) (float64, string, gonvml.Return) {
	if l.has("nvmlDeviceGetMemoryInfo_v2") {
		m, ret := h.GetMemoryInfo_v2()
		if ret == gonvml.SUCCESS {
			switch r {
			case FBFreeBytes:
				return float64(m.Free), "", ret
			case FBUsedBytes:
				return float64(m.Used), "", ret
			case FBReservedBytes:
				return float64(m.Reserved), "", ret
			}
			return float64(m.Total), "", ret
		}
		if ret != gonvml.ERROR_NOT_SUPPORTED && ret != gonvml.ERROR_FUNCTION_NOT_FOUND {
			return 0, "nvmlDeviceGetMemoryInfo_v2", ret
		}
	}
	m, ret := h.GetMemoryInfo()
	switch r {
	case FBFreeBytes:
		return float64(m.Free), "nvmlDeviceGetMemoryInfo", ret
	case FBUsedBytes:
		return float64(m.Used), "nvmlDeviceGetMemoryInfo", ret
	case FBReservedBytes:
		return 0, "nvmlDeviceGetMemoryInfo", gonvml.ERROR_NOT_SUPPORTED
	}
	return float64(m.Total), "nvmlDeviceGetMemoryInfo", ret
}

func violation(h gonvml.Device, p gonvml.PerfPolicyType) (float64, string, gonvml.Return) {
	v, ret := h.GetViolationStatus(p)
	return float64(v.ViolationTime), "nvmlDeviceGetViolationStatus", ret
}

// field reads one NVML field value (nvmlDeviceGetFieldValues).
func field(l *library, h gonvml.Device, id uint32, scope uint32) (float64, string, gonvml.Return) {
	const op = "nvmlDeviceGetFieldValues"
	if !l.has(op) {
		return 0, op, notInDriver
	}
	vals := []gonvml.FieldValue{{FieldId: id, ScopeId: scope}}
	if ret := h.GetFieldValues(vals); ret != gonvml.SUCCESS {
		return 0, op, ret
	}
	if ret := gonvml.Return(vals[0].NvmlReturn); ret != gonvml.SUCCESS {
		return 0, op, ret
	}
	return fieldValue(vals[0]), op, gonvml.SUCCESS
}

func fieldValue(v gonvml.FieldValue) float64 {
	b := v.Value[:]
	switch gonvml.ValueType(v.ValueType) {
	case gonvml.VALUE_TYPE_DOUBLE:
		return math.Float64frombits(binary.LittleEndian.Uint64(b))
	case gonvml.VALUE_TYPE_UNSIGNED_INT:
		return float64(binary.LittleEndian.Uint32(b))
	case gonvml.VALUE_TYPE_UNSIGNED_LONG, gonvml.VALUE_TYPE_UNSIGNED_LONG_LONG:
		return float64(binary.LittleEndian.Uint64(b))
	case gonvml.VALUE_TYPE_SIGNED_LONG_LONG:
		return float64(int64(binary.LittleEndian.Uint64(b)))
	case gonvml.VALUE_TYPE_SIGNED_INT:
		return float64(int32(binary.LittleEndian.Uint32(b)))
	case gonvml.VALUE_TYPE_UNSIGNED_SHORT:
		return float64(binary.LittleEndian.Uint16(b))
	}
	return math.NaN()
}

// wrap turns an NVML return code into an *Error that wraps the matching sentinel.
func wrap(op string, ret gonvml.Return) error {
	var kind error
	switch ret {
	case gonvml.ERROR_LIBRARY_NOT_FOUND:
		kind = ErrLibraryNotFound
	case gonvml.ERROR_DRIVER_NOT_LOADED:
		kind = ErrDriverNotLoaded
	case gonvml.ERROR_NO_PERMISSION:
		kind = ErrNoPermission
	case gonvml.ERROR_NOT_SUPPORTED, gonvml.ERROR_FUNCTION_NOT_FOUND:
		kind = ErrNotSupported
	case gonvml.ERROR_GPU_IS_LOST:
		kind = ErrGPULost
	case gonvml.ERROR_NOT_FOUND:
		kind = ErrNotFound
	}
	msg := ret.Error()
	if ret == gonvml.ERROR_LIBRARY_NOT_FOUND {
		// NVML's own string needs the library; say what it means instead.
		msg = "libnvidia-ml.so could not be loaded"
	}
	return NewError(op, int(ret), msg, kind)
}

func cString(b []int8) string {
	var sb strings.Builder
	for _, c := range b {
		if c == 0 {
			break
		}
		sb.WriteByte(byte(c))
	}
	return sb.String()
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func instanceID(v uint32) int {
	if v == math.MaxUint32 {
		return -1
	}
	return int(v)
}

func brandName(b gonvml.BrandType) string {
	switch b {
	case gonvml.BRAND_QUADRO:
		return "Quadro"
	case gonvml.BRAND_TESLA:
		return "Tesla"
	case gonvml.BRAND_NVS:
		return "NVS"
	case gonvml.BRAND_GRID:
		return "Grid"
	case gonvml.BRAND_GEFORCE:
		return "GeForce"
	case gonvml.BRAND_TITAN:
		return "Titan"
	case gonvml.BRAND_NVIDIA_RTX:
		return "NVIDIA RTX"
	case gonvml.BRAND_QUADRO_RTX:
		return "Quadro RTX"
	case gonvml.BRAND_UNKNOWN:
		return "Unknown"
	}
	return "NVIDIA"
}
