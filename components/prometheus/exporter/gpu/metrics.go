package gpu

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sondehq/sonde/pipeline"
)

// metrics are the component's own metrics (on Options.Registerer, labelled with the
// component id by the controller). Label values are bounded: gpu is an NVML index,
// reason a fixed word, xid an XID code.
type metrics struct {
	collections prometheus.Counter
	duration    prometheus.Histogram
	available   prometheus.Gauge
	devices     prometheus.Gauge
	series      prometheus.Gauge
	errors      *prometheus.CounterVec
	xids        *prometheus.CounterVec
	attribution *prometheus.CounterVec
	dropped     *prometheus.CounterVec
}

// Reasons for sonde_gpu_errors_total.
const (
	reasonGPULost    = "gpu_lost"     // the GPU fell off the bus or needs a reset
	reasonNVML       = "nvml_error"   // an NVML read failed
	reasonGPM        = "gpm_error"    // a GPM sample failed
	reasonMIG        = "mig_error"    // MIG devices could not be listed
	reasonEvents     = "event_error"  // the XID event set failed
	reasonEnumerate  = "device_error" // the GPU could not be opened or identified
	dropUnknownGPU   = "xid_unknown_gpu"
	dropUnmatchedDev = "unmatched_device_id"
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		collections: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sonde_gpu_collections_total", Help: "NVML collection passes run."}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sonde_gpu_collection_duration_seconds", Help: "Duration of one NVML collection pass.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}),
		available: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sonde_gpu_nvml_available", Help: "1 when NVML is loaded and sees at least one GPU, else 0."}),
		devices: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sonde_gpu_devices", Help: "GPUs seen by the last collection pass."}),
		series: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sonde_gpu_series", Help: "Series in the exposition built by the last collection pass."}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_gpu_errors_total", Help: "Failed NVML operations, at most one per GPU, reason and pass."},
			[]string{"gpu", "reason"}),
		xids: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_gpu_xid_errors_total", Help: "XID error events received from NVML."},
			[]string{"gpu", "xid"}),
		attribution: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_gpu_pod_attribution_errors_total", Help: "Failed pod-resources queries; series carry no pod labels meanwhile."},
			[]string{"reason"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_gpu_dropped_total", Help: "Inputs ignored: XID events of unknown GPUs, pod-resources device ids that match no GPU."},
			[]string{"reason"}),
	}
	if err := pipeline.RegisterAll(reg, m.collections, m.duration, m.available, m.devices, m.series, m.errors, m.xids, m.attribution, m.dropped); err != nil {
		return nil, fmt.Errorf("prometheus.exporter.gpu: register metrics: %w", err)
	}
	return m, nil
}
