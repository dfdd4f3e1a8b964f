package gpu

import (
	"math"
	"sort"

	"github.com/sondehq/sonde/components/prometheus/exporter/gpu/nvml"
)

// source says how a field's value is obtained.
type source uint8

const (
	fromReadings source = iota + 1 // one or more NVML readings, summed, times scale
	fromGPM                        // one GPM metric, times scale
	fromLabel                      // a string shown as a label on every other series
	fromXID                        // the last XID event of the GPU
)

// field is a DCGM field that sonde can produce, with dcgm-exporter's default type and help.
type field struct {
	name     string
	typ      MetricType
	help     string
	src      source
	readings []nvml.Reading
	gpm      nvml.GPMMetric
	div      float64 // divide by (unit conversion); 0 means 1
	scale    float64 // then multiply by; 0 means 1
	whole    bool    // round down to an integer, as DCGM's integer fields are
	label    func(nvml.System, nvml.DeviceInfo) string
	// mig: also produced for each MIG GPU instance (dcgm-exporter's GPU_I entities).
	mig bool
}

const (
	mib        = 1 << 20
	percent    = 100 // GPM reports percentages; DCGM's DCGM_FI_PROF_* are ratios
	mibToBytes = mib
)

func readings(rs ...nvml.Reading) []nvml.Reading { return rs }

// catalog lists every field sonde implements. Help texts are dcgm-exporter's (its
// etc/default-counters.csv and etc/dcp-metrics-included.csv) where it has one.
var catalog = []field{
	{name: "DCGM_FI_DEV_SM_CLOCK", typ: Gauge, help: "SM clock frequency (in MHz).", src: fromReadings, readings: readings(nvml.ClockSMMHz)},
	{name: "DCGM_FI_DEV_MEM_CLOCK", typ: Gauge, help: "Memory clock frequency (in MHz).", src: fromReadings, readings: readings(nvml.ClockMemMHz)},
	{name: "DCGM_FI_DEV_MEMORY_TEMP", typ: Gauge, help: "Memory temperature (in C).", src: fromReadings, readings: readings(nvml.TempMemoryCelsius)},
	{name: "DCGM_FI_DEV_GPU_TEMP", typ: Gauge, help: "GPU temperature (in C).", src: fromReadings, readings: readings(nvml.TempGPUCelsius)},
	{name: "DCGM_FI_DEV_POWER_USAGE", typ: Gauge, help: "Power draw (in W).", src: fromReadings, readings: readings(nvml.PowerMilliwatts), div: 1000},
	{name: "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", typ: Counter, help: "Total energy consumption since boot (in mJ).", src: fromReadings, readings: readings(nvml.EnergyMillijoules)},
	{name: "DCGM_FI_DEV_PCIE_TX_THROUGHPUT", typ: Counter, help: "Total number of bytes transmitted through PCIe TX (in KB) via NVML.", src: fromReadings, readings: readings(nvml.PCIeTxKBps)},
	{name: "DCGM_FI_DEV_PCIE_RX_THROUGHPUT", typ: Counter, help: "Total number of bytes received through PCIe RX (in KB) via NVML.", src: fromReadings, readings: readings(nvml.PCIeRxKBps)},
	{name: "DCGM_FI_DEV_PCIE_REPLAY_COUNTER", typ: Counter, help: "Total number of PCIe retries.", src: fromReadings, readings: readings(nvml.PCIeReplays)},
	{name: "DCGM_FI_DEV_GPU_UTIL", typ: Gauge, help: "GPU utilization (in %).", src: fromReadings, readings: readings(nvml.UtilGPUPercent)},
	{name: "DCGM_FI_DEV_MEM_COPY_UTIL", typ: Gauge, help: "Memory utilization (in %).", src: fromReadings, readings: readings(nvml.UtilMemoryPercent)},
	{name: "DCGM_FI_DEV_ENC_UTIL", typ: Gauge, help: "Encoder utilization (in %).", src: fromReadings, readings: readings(nvml.UtilEncoderPercent)},
	{name: "DCGM_FI_DEV_DEC_UTIL", typ: Gauge, help: "Decoder utilization (in %).", src: fromReadings, readings: readings(nvml.UtilDecoderPercent)},
	{name: "DCGM_FI_DEV_XID_ERRORS", typ: Gauge, help: "Value of the last XID error encountered.", src: fromXID},
	{name: "DCGM_FI_DEV_POWER_VIOLATION", typ: Counter, help: "Throttling duration due to power constraints (in ns).", src: fromReadings, readings: readings(nvml.ViolationPowerNs)},
	{name: "DCGM_FI_DEV_THERMAL_VIOLATION", typ: Counter, help: "Throttling duration due to thermal constraints (in ns).", src: fromReadings, readings: readings(nvml.ViolationThermalNs)},
	{name: "DCGM_FI_DEV_SYNC_BOOST_VIOLATION", typ: Counter, help: "Throttling duration due to sync-boost constraints (in ns).", src: fromReadings, readings: readings(nvml.ViolationSyncBoostNs)},
	{name: "DCGM_FI_DEV_BOARD_LIMIT_VIOLATION", typ: Counter, help: "Throttling duration due to board limit constraints (in ns).", src: fromReadings, readings: readings(nvml.ViolationBoardLimitNs)},
	{name: "DCGM_FI_DEV_LOW_UTIL_VIOLATION", typ: Counter, help: "Throttling duration due to low utilization (in ns).", src: fromReadings, readings: readings(nvml.ViolationLowUtilNs)},
	{name: "DCGM_FI_DEV_RELIABILITY_VIOLATION", typ: Counter, help: "Throttling duration due to reliability constraints (in ns).", src: fromReadings, readings: readings(nvml.ViolationReliabilityNs)},
	{name: "DCGM_FI_DEV_FB_FREE", typ: Gauge, help: "Framebuffer memory free (in MiB).", src: fromReadings, readings: readings(nvml.FBFreeBytes), div: mib, whole: true, mig: true},
	{name: "DCGM_FI_DEV_FB_USED", typ: Gauge, help: "Framebuffer memory used (in MiB).", src: fromReadings, readings: readings(nvml.FBUsedBytes), div: mib, whole: true, mig: true},
	{name: "DCGM_FI_DEV_FB_RESERVED", typ: Gauge, help: "Framebuffer memory reserved (in MiB).", src: fromReadings, readings: readings(nvml.FBReservedBytes), div: mib, whole: true, mig: true},
	{name: "DCGM_FI_DEV_FB_TOTAL", typ: Gauge, help: "Framebuffer memory total (in MiB).", src: fromReadings, readings: readings(nvml.FBTotalBytes), div: mib, whole: true, mig: true},
	{name: "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", typ: Counter, help: "Total number of single-bit volatile ECC errors.", src: fromReadings, readings: readings(nvml.ECCSBEVolatile)},
	{name: "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", typ: Counter, help: "Total number of double-bit volatile ECC errors.", src: fromReadings, readings: readings(nvml.ECCDBEVolatile)},
	{name: "DCGM_FI_DEV_ECC_SBE_AGG_TOTAL", typ: Counter, help: "Total number of single-bit persistent ECC errors.", src: fromReadings, readings: readings(nvml.ECCSBEAggregate)},
	{name: "DCGM_FI_DEV_ECC_DBE_AGG_TOTAL", typ: Counter, help: "Total number of double-bit persistent ECC errors.", src: fromReadings, readings: readings(nvml.ECCDBEAggregate)},
	{name: "DCGM_FI_DEV_RETIRED_SBE", typ: Counter, help: "Total number of retired pages due to single-bit errors.", src: fromReadings, readings: readings(nvml.RetiredPagesSBE)},
	{name: "DCGM_FI_DEV_RETIRED_DBE", typ: Counter, help: "Total number of retired pages due to double-bit errors.", src: fromReadings, readings: readings(nvml.RetiredPagesDBE)},
	{name: "DCGM_FI_DEV_RETIRED_PENDING", typ: Counter, help: "Total number of pages pending retirement.", src: fromReadings, readings: readings(nvml.RetiredPagesPending)},
	{name: "DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL", typ: Counter, help: "Total number of NVLink flow-control CRC errors.", src: fromReadings, readings: readings(nvml.NVLinkCRCFlitErrors)},
	{name: "DCGM_FI_DEV_NVLINK_CRC_DATA_ERROR_COUNT_TOTAL", typ: Counter, help: "Total number of NVLink data CRC errors.", src: fromReadings, readings: readings(nvml.NVLinkCRCDataErrors)},
	{name: "DCGM_FI_DEV_NVLINK_REPLAY_ERROR_COUNT_TOTAL", typ: Counter, help: "Total number of NVLink retries.", src: fromReadings, readings: readings(nvml.NVLinkReplayErrors)},
	{name: "DCGM_FI_DEV_NVLINK_RECOVERY_ERROR_COUNT_TOTAL", typ: Counter, help: "Total number of NVLink recovery errors.", src: fromReadings, readings: readings(nvml.NVLinkRecoveryErrors)},
	// NVML's NVLink data counters (KiB since the driver was loaded, all links, both
	// directions); see docs/gpu.md for how this relates to DCGM's field.
	{name: "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL", typ: Gauge, help: "Total number of NVLink bandwidth counters for all lanes.", src: fromReadings, readings: readings(nvml.NVLinkDataTxKiB, nvml.NVLinkDataRxKiB)},
	{name: "DCGM_FI_DEV_VGPU_LICENSE_STATUS", typ: Gauge, help: "vGPU License status", src: fromReadings, readings: readings(nvml.VGPULicensed)},
	{name: "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", typ: Counter, help: "Number of remapped rows for uncorrectable errors", src: fromReadings, readings: readings(nvml.RemappedRowsUncorrectable)},
	{name: "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", typ: Counter, help: "Number of remapped rows for correctable errors", src: fromReadings, readings: readings(nvml.RemappedRowsCorrectable)},
	{name: "DCGM_FI_DEV_ROW_REMAP_FAILURE", typ: Gauge, help: "Whether remapping of rows has failed", src: fromReadings, readings: readings(nvml.RemapFailed)},
	{name: "DCGM_FI_DEV_ROW_REMAP_PENDING", typ: Gauge, help: "Whether remapping of rows is pending.", src: fromReadings, readings: readings(nvml.RemapPending)},

	{name: "DCGM_FI_DRIVER_VERSION", typ: Label, help: "Driver Version", src: fromLabel,
		label: func(s nvml.System, _ nvml.DeviceInfo) string { return s.DriverVersion }},
	{name: "DCGM_FI_NVML_VERSION", typ: Label, help: "NVML Version", src: fromLabel,
		label: func(s nvml.System, _ nvml.DeviceInfo) string { return s.NVMLVersion }},
	{name: "DCGM_FI_DEV_BRAND", typ: Label, help: "Device Brand", src: fromLabel,
		label: func(_ nvml.System, d nvml.DeviceInfo) string { return d.Brand }},
	{name: "DCGM_FI_DEV_SERIAL", typ: Label, help: "Device Serial Number", src: fromLabel,
		label: func(_ nvml.System, d nvml.DeviceInfo) string { return d.Serial }},
	{name: "DCGM_FI_DEV_VBIOS_VERSION", typ: Label, help: "VBIOS version of the device", src: fromLabel,
		label: func(_ nvml.System, d nvml.DeviceInfo) string { return d.VBIOS }},

	{name: "DCGM_FI_PROF_GR_ENGINE_ACTIVE", typ: Gauge, help: "Ratio of time the graphics engine is active.", src: fromGPM, gpm: nvml.GPMGraphicsUtil, div: percent, mig: true},
	{name: "DCGM_FI_PROF_SM_ACTIVE", typ: Gauge, help: "The ratio of cycles an SM has at least 1 warp assigned.", src: fromGPM, gpm: nvml.GPMSMUtil, div: percent, mig: true},
	{name: "DCGM_FI_PROF_SM_OCCUPANCY", typ: Gauge, help: "The ratio of number of warps resident on an SM.", src: fromGPM, gpm: nvml.GPMSMOccupancy, div: percent, mig: true},
	{name: "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", typ: Gauge, help: "Ratio of cycles the tensor (HMMA) pipe is active.", src: fromGPM, gpm: nvml.GPMAnyTensorUtil, div: percent, mig: true},
	{name: "DCGM_FI_PROF_DRAM_ACTIVE", typ: Gauge, help: "Ratio of cycles the device memory interface is active sending or receiving data.", src: fromGPM, gpm: nvml.GPMDRAMBWUtil, div: percent, mig: true},
	{name: "DCGM_FI_PROF_PIPE_FP64_ACTIVE", typ: Gauge, help: "Ratio of cycles the fp64 pipes are active.", src: fromGPM, gpm: nvml.GPMFP64Util, div: percent, mig: true},
	{name: "DCGM_FI_PROF_PIPE_FP32_ACTIVE", typ: Gauge, help: "Ratio of cycles the fp32 pipes are active.", src: fromGPM, gpm: nvml.GPMFP32Util, div: percent, mig: true},
	{name: "DCGM_FI_PROF_PIPE_FP16_ACTIVE", typ: Gauge, help: "Ratio of cycles the fp16 pipes are active.", src: fromGPM, gpm: nvml.GPMFP16Util, div: percent, mig: true},
	{name: "DCGM_FI_PROF_PIPE_INT_ACTIVE", typ: Gauge, help: "Ratio of cycles the integer pipe is active.", src: fromGPM, gpm: nvml.GPMIntegerUtil, div: percent, mig: true},
	{name: "DCGM_FI_PROF_PIPE_TENSOR_IMMA_ACTIVE", typ: Gauge, help: "Ratio of cycles the tensor (IMMA) pipe is active.", src: fromGPM, gpm: nvml.GPMIMMATensorUtil, div: percent, mig: true},
	{name: "DCGM_FI_PROF_PIPE_TENSOR_HMMA_ACTIVE", typ: Gauge, help: "Ratio of cycles the tensor (HMMA) pipe is active.", src: fromGPM, gpm: nvml.GPMHMMATensorUtil, div: percent, mig: true},
	{name: "DCGM_FI_PROF_PIPE_TENSOR_DFMA_ACTIVE", typ: Gauge, help: "Ratio of cycles the tensor (DFMA) pipe is active.", src: fromGPM, gpm: nvml.GPMDFMATensorUtil, div: percent, mig: true},
	{name: "DCGM_FI_PROF_PCIE_TX_BYTES", typ: Gauge, help: "The rate of data transmitted over the PCIe bus - including both protocol headers and data payloads - in bytes per second.", src: fromGPM, gpm: nvml.GPMPCIeTxMiBps, scale: mibToBytes},
	{name: "DCGM_FI_PROF_PCIE_RX_BYTES", typ: Gauge, help: "The rate of data received over the PCIe bus - including both protocol headers and data payloads - in bytes per second.", src: fromGPM, gpm: nvml.GPMPCIeRxMiBps, scale: mibToBytes},
	{name: "DCGM_FI_PROF_NVLINK_TX_BYTES", typ: Gauge, help: "The rate of data transmitted over NVLink - not including protocol headers - in bytes per second.", src: fromGPM, gpm: nvml.GPMNVLinkTxMiBps, scale: mibToBytes},
	{name: "DCGM_FI_PROF_NVLINK_RX_BYTES", typ: Gauge, help: "The rate of data received over NVLink - not including protocol headers - in bytes per second.", src: fromGPM, gpm: nvml.GPMNVLinkRxMiBps, scale: mibToBytes},
}

var fieldsByName = func() map[string]*field {
	m := make(map[string]*field, len(catalog))
	for i := range catalog {
		m[catalog[i].name] = &catalog[i]
	}
	return m
}()

// FieldNames returns the names of every DCGM field sonde implements, sorted.
func FieldNames() []string {
	out := make([]string, 0, len(catalog))
	for _, f := range catalog {
		out = append(out, f.name)
	}
	sort.Strings(out)
	return out
}

// scaled converts v from NVML's unit to the field's.
func (f *field) scaled(v float64) float64 {
	if f.div != 0 {
		v /= f.div
	}
	if f.scale != 0 {
		v *= f.scale
	}
	if f.whole {
		v = math.Floor(v)
	}
	return v
}
