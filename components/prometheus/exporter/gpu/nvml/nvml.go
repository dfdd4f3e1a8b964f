// Package nvml is the narrow view of NVIDIA's management library that
// prometheus.exporter.gpu uses: enumerate GPUs and MIG instances, read a fixed set of
// values in NVML's own units, take GPM (profiling) samples and drain XID events.
//
// The real implementation (New) sits on github.com/NVIDIA/go-nvml, which loads
// libnvidia-ml with dlopen at run time, so a binary built with it starts on machines
// without a driver. Tests use the fake in package nvmlfake.
//
// Concurrency: a Library and everything it hands out are used by one goroutine at a time
// (the exporter's collection loop). Nothing obtained from a Library may be used after
// Shutdown; the real implementation would call into an unloaded library.
package nvml

import (
	"errors"
	"fmt"
)

// Library is an NVML session.
type Library interface {
	// Init loads libnvidia-ml and initialises NVML. It returns an error wrapping
	// ErrLibraryNotFound, ErrDriverNotLoaded, ErrNoPermission or another NVML error.
	Init() error
	// Shutdown ends the session started by Init and unloads the library.
	Shutdown() error
	// System returns process-wide versions.
	System() (System, error)
	// DeviceCount returns the number of GPUs NVML sees.
	DeviceCount() (int, error)
	// Device returns the GPU at NVML index i (0 <= i < DeviceCount()).
	Device(i int) (Device, error)
	// NewEventSet creates an empty XID event set.
	NewEventSet() (EventSet, error)
}

// System holds process-wide versions.
type System struct {
	DriverVersion string // "550.54.15"
	NVMLVersion   string // "12.550.54.15"
}

// DeviceInfo is what identifies a GPU; it does not change while the driver is loaded.
type DeviceInfo struct {
	Index    int    // NVML index (dcgm-exporter's "gpu" label)
	Minor    int    // /dev/nvidia<Minor>
	UUID     string // "GPU-5c3e…"
	Name     string // "NVIDIA H100 80GB HBM3"
	PCIBusID string // "00000000:17:00.0"
	Serial   string // empty where not available
	VBIOS    string
	Brand    string // "Tesla", "NVIDIA", …
}

// Device is one physical GPU.
type Device interface {
	// Info returns the GPU's identity. It fails with ErrGPULost once the GPU fell off
	// the bus.
	Info() (DeviceInfo, error)
	// Read returns one value in NVML's units (see Reading). ErrNotSupported means the
	// GPU or driver does not have it; that does not change while the driver is loaded.
	Read(Reading) (float64, error)
	// MIGEnabled reports whether MIG mode is on.
	MIGEnabled() (bool, error)
	// MIGDevices lists the MIG devices (one per compute instance) of a GPU in MIG mode.
	MIGDevices() ([]MIGDevice, error)
	// GPM returns a profiling sampler for the whole GPU, or an error wrapping
	// ErrNotSupported where the GPU has no GPM (before Hopper) or is in MIG mode.
	GPM() (GPM, error)
}

// MIGInfo identifies a MIG device.
type MIGInfo struct {
	UUID              string // "MIG-…"
	GPUInstanceID     int
	ComputeInstanceID int
	Profile           string // "1g.10gb", as nvidia-smi and dcgm-exporter's GPU_I_PROFILE show it
}

// MIGDevice is one MIG device (a compute instance within a GPU instance).
type MIGDevice interface {
	Info() (MIGInfo, error)
	// Read reads a value of the MIG device; most device-wide readings are
	// ErrNotSupported on a MIG device, framebuffer memory is not.
	Read(Reading) (float64, error)
	// GPM returns a profiling sampler for the MIG device's GPU instance.
	GPM() (GPM, error)
}

// GPM samples NVML's GPU Performance Monitoring counters (Hopper and newer).
type GPM interface {
	// Sample takes a sample and returns, for each of ids, the metric over the time since
	// the previous Sample (NaN where that one metric is unavailable). The first call has
	// no previous sample and returns ErrNoBaseline. Samples must be at least 100 ms apart.
	Sample(ids []GPMMetric) ([]float64, error)
	// Close frees the samples.
	Close() error
}

// EventSet receives XID (critical error) events.
type EventSet interface {
	// Register adds a GPU to the set.
	Register(Device) error
	// Poll returns up to max pending events without blocking.
	Poll(max int) ([]Event, error)
	// Close frees the set.
	Close() error
}

// Event is one XID error.
type Event struct {
	UUID              string // the GPU's UUID
	XID               uint64
	GPUInstanceID     int // -1 when not specific to a GPU instance
	ComputeInstanceID int
}

// Reading names a value a Device can read, in NVML's units.
type Reading int

// Readings.
const (
	ClockSMMHz Reading = iota + 1
	ClockMemMHz
	TempGPUCelsius
	TempMemoryCelsius
	PowerMilliwatts
	EnergyMillijoules // since the driver was loaded
	UtilGPUPercent
	UtilMemoryPercent
	UtilEncoderPercent
	UtilDecoderPercent
	FBFreeBytes
	FBUsedBytes
	FBReservedBytes
	FBTotalBytes
	PCIeTxKBps // NVML's 20 ms PCIe throughput sample
	PCIeRxKBps
	PCIeReplays
	RemappedRowsCorrectable
	RemappedRowsUncorrectable
	RemapPending    // 0 or 1
	RemapFailed     // 0 or 1
	NVLinkDataTxKiB // cumulative, all links
	NVLinkDataRxKiB
	NVLinkCRCFlitErrors
	NVLinkCRCDataErrors
	NVLinkReplayErrors
	NVLinkRecoveryErrors
	ECCSBEVolatile
	ECCDBEVolatile
	ECCSBEAggregate
	ECCDBEAggregate
	RetiredPagesSBE
	RetiredPagesDBE
	RetiredPagesPending // 0 or 1
	ViolationPowerNs
	ViolationThermalNs
	ViolationSyncBoostNs
	ViolationBoardLimitNs
	ViolationLowUtilNs
	ViolationReliabilityNs
	VGPULicensed // 1 when a vGPU guest holds a license, else 0
	readingCount
)

// Readings returns every Reading, in order.
func Readings() []Reading {
	out := make([]Reading, 0, readingCount-1)
	for r := Reading(1); r < readingCount; r++ {
		out = append(out, r)
	}
	return out
}

// GPMMetric is an NVML GPM metric id (nvmlGpmMetricId_t); values are NVML's.
type GPMMetric uint32

// GPM metrics used by the exporter (percentages 0–100 unless noted).
const (
	GPMGraphicsUtil   GPMMetric = 1
	GPMSMUtil         GPMMetric = 2
	GPMSMOccupancy    GPMMetric = 3
	GPMIntegerUtil    GPMMetric = 4
	GPMAnyTensorUtil  GPMMetric = 5
	GPMDFMATensorUtil GPMMetric = 6
	GPMHMMATensorUtil GPMMetric = 7
	GPMIMMATensorUtil GPMMetric = 9
	GPMDRAMBWUtil     GPMMetric = 10
	GPMFP64Util       GPMMetric = 11
	GPMFP32Util       GPMMetric = 12
	GPMFP16Util       GPMMetric = 13
	GPMPCIeTxMiBps    GPMMetric = 20 // MiB/s
	GPMPCIeRxMiBps    GPMMetric = 21 // MiB/s
	GPMNVLinkRxMiBps  GPMMetric = 60 // MiB/s, all links
	GPMNVLinkTxMiBps  GPMMetric = 61 // MiB/s, all links
)

// Errors that callers act on; real errors wrap one of them.
var (
	ErrLibraryNotFound = errors.New("libnvidia-ml not found")
	ErrDriverNotLoaded = errors.New("NVIDIA driver not loaded")
	ErrNoPermission    = errors.New("insufficient permissions")
	ErrNotSupported    = errors.New("not supported")
	ErrGPULost         = errors.New("GPU is lost")
	ErrNotFound        = errors.New("not found")
	ErrNoBaseline      = errors.New("no previous GPM sample")
)

// Error is an NVML call that failed.
type Error struct {
	Op   string // the NVML function, e.g. "nvmlDeviceGetPowerUsage"
	Code int    // nvmlReturn_t
	Msg  string // NVML's error string
	kind error  // one of the sentinel errors above, or nil
}

// NewError returns an *Error for a failed call; kind is a sentinel error or nil.
func NewError(op string, code int, msg string, kind error) *Error {
	return &Error{Op: op, Code: code, Msg: msg, kind: kind}
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s (%d)", e.Op, e.Msg, e.Code) }

// Unwrap returns the sentinel error the failure belongs to.
func (e *Error) Unwrap() error { return e.kind }

// ProfileName formats a MIG profile name from a GPU instance's slice count and memory,
// the way NVIDIA names them ("1g.10gb"): memory rounded up to whole GiB.
func ProfileName(slices uint32, memoryMB uint64) string {
	return fmt.Sprintf("%dg.%dgb", slices, (memoryMB+1023)/1024)
}
