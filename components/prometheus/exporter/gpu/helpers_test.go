package gpu

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	v1 "k8s.io/kubelet/pkg/apis/podresources/v1"

	"github.com/sondehq/sonde/components/prometheus/exporter/gpu/nvml"
	"github.com/sondehq/sonde/components/prometheus/exporter/gpu/nvml/nvmlfake"
	"github.com/sondehq/sonde/exporters/backendtest"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

const (
	uuid0 = "GPU-0b5a8f9e-1c2d-4e5f-8a9b-000000000000"
	uuid1 = "GPU-1b5a8f9e-1c2d-4e5f-8a9b-111111111111"
	uuid2 = "GPU-2b5a8f9e-1c2d-4e5f-8a9b-222222222222"
	migA  = "MIG-aaaaaaaa-0000-4000-8000-00000000000a" // GPU 1, GI 1, CI 0
	migB  = "MIG-bbbbbbbb-0000-4000-8000-00000000000b" // GPU 1, GI 2, CI 0
	migC1 = "MIG-cccccccc-0000-4000-8000-0000000000c1" // GPU 1, GI 3, CI 0
	migC2 = "MIG-cccccccc-0000-4000-8000-0000000000c2" // GPU 1, GI 3, CI 1
)

const gib = 1 << 30

// fakeNode is the test machine: three GPUs.
//   - GPU 0, H100 with GPM, held by ml/trainer-0.
//   - GPU 1, H100 in MIG mode: GI 1 (3g.40gb) held by inference/llm-0, GI 2 (1g.10gb)
//     free, GI 3 (2g.20gb) with two compute instances held by inference/embed-0 and -1.
//   - GPU 2, T4 (no GPM, no HBM temperature, no NVLink, no row remapping), time-sliced
//     between dev/notebook-a and dev/notebook-b; its encoder reading fails.
func fakeNode() *nvmlfake.Library {
	return &nvmlfake.Library{
		Sys: nvml.System{DriverVersion: "550.54.15", NVMLVersion: "12.550.54.15"},
		GPUs: []*nvmlfake.GPU{
			{
				Info: nvml.DeviceInfo{Index: 0, Minor: 0, UUID: uuid0, Name: "NVIDIA H100 80GB HBM3", PCIBusID: "00000000:17:00.0", Serial: "1650123000001", Brand: "NVIDIA"},
				Values: map[nvml.Reading]float64{
					nvml.ClockSMMHz: 1980, nvml.ClockMemMHz: 2619, nvml.TempGPUCelsius: 41, nvml.TempMemoryCelsius: 38,
					nvml.PowerMilliwatts: 312500, nvml.EnergyMillijoules: 987654321,
					nvml.UtilGPUPercent: 87, nvml.UtilMemoryPercent: 45, nvml.UtilEncoderPercent: 0, nvml.UtilDecoderPercent: 0,
					nvml.FBFreeBytes: 10*gib - 300<<10, nvml.FBUsedBytes: 70*gib + 300<<10, nvml.FBReservedBytes: 512 << 20, nvml.FBTotalBytes: 80*gib + 512<<20,
					nvml.PCIeTxKBps: 1200, nvml.PCIeRxKBps: 3400, nvml.PCIeReplays: 2,
					nvml.RemappedRowsCorrectable: 1, nvml.RemappedRowsUncorrectable: 0, nvml.RemapPending: 0, nvml.RemapFailed: 0,
					nvml.NVLinkDataTxKiB: 1000, nvml.NVLinkDataRxKiB: 2500,
					nvml.ECCSBEVolatile: 0, nvml.ECCDBEVolatile: 0, nvml.VGPULicensed: 0,
				},
				GPM: map[nvml.GPMMetric]float64{
					nvml.GPMGraphicsUtil: 92, nvml.GPMSMUtil: 80, nvml.GPMSMOccupancy: 40, nvml.GPMAnyTensorUtil: 35,
					nvml.GPMDRAMBWUtil: 60, nvml.GPMFP64Util: 0, nvml.GPMFP32Util: 12, nvml.GPMFP16Util: 25,
					nvml.GPMPCIeTxMiBps: 100, nvml.GPMPCIeRxMiBps: 250, nvml.GPMNVLinkTxMiBps: 1024, nvml.GPMNVLinkRxMiBps: 2048,
				},
			},
			{
				Info: nvml.DeviceInfo{Index: 1, Minor: 1, UUID: uuid1, Name: "NVIDIA H100 80GB HBM3", PCIBusID: "00000000:2A:00.0", Brand: "NVIDIA"},
				Values: map[nvml.Reading]float64{
					nvml.ClockSMMHz: 1755, nvml.ClockMemMHz: 2619, nvml.TempGPUCelsius: 35, nvml.TempMemoryCelsius: 33,
					nvml.PowerMilliwatts: 120000, nvml.EnergyMillijoules: 55500000,
					nvml.FBFreeBytes: 60 * gib, nvml.FBUsedBytes: 20 * gib, nvml.FBReservedBytes: 512 << 20, nvml.FBTotalBytes: 80*gib + 512<<20,
					nvml.PCIeReplays: 0, nvml.RemappedRowsCorrectable: 0, nvml.RemappedRowsUncorrectable: 0, nvml.RemapPending: 0, nvml.RemapFailed: 0,
					nvml.NVLinkDataTxKiB: 0, nvml.NVLinkDataRxKiB: 0, nvml.VGPULicensed: 0,
				},
				GPM:     map[nvml.GPMMetric]float64{},
				MIGMode: true,
				MIG: []*nvmlfake.MIG{
					{
						Info:   nvml.MIGInfo{UUID: migA, GPUInstanceID: 1, ComputeInstanceID: 0, Profile: "3g.40gb"},
						Values: map[nvml.Reading]float64{nvml.FBFreeBytes: 30 * gib, nvml.FBUsedBytes: 10 * gib, nvml.FBReservedBytes: 0, nvml.FBTotalBytes: 40 * gib},
						GPM:    map[nvml.GPMMetric]float64{nvml.GPMGraphicsUtil: 70, nvml.GPMSMUtil: 65, nvml.GPMSMOccupancy: 30, nvml.GPMAnyTensorUtil: 50, nvml.GPMDRAMBWUtil: 45, nvml.GPMFP64Util: 0, nvml.GPMFP32Util: 5, nvml.GPMFP16Util: 40},
					},
					{
						Info:   nvml.MIGInfo{UUID: migB, GPUInstanceID: 2, ComputeInstanceID: 0, Profile: "1g.10gb"},
						Values: map[nvml.Reading]float64{nvml.FBFreeBytes: 10 * gib, nvml.FBUsedBytes: 0, nvml.FBReservedBytes: 0, nvml.FBTotalBytes: 10 * gib},
						GPM:    map[nvml.GPMMetric]float64{nvml.GPMGraphicsUtil: 0, nvml.GPMSMUtil: 0, nvml.GPMSMOccupancy: 0, nvml.GPMAnyTensorUtil: 0, nvml.GPMDRAMBWUtil: 0, nvml.GPMFP64Util: 0, nvml.GPMFP32Util: 0, nvml.GPMFP16Util: 0},
					},
					{
						Info:   nvml.MIGInfo{UUID: migC1, GPUInstanceID: 3, ComputeInstanceID: 0, Profile: "2g.20gb"},
						Values: map[nvml.Reading]float64{nvml.FBFreeBytes: 12 * gib, nvml.FBUsedBytes: 8 * gib, nvml.FBReservedBytes: 0, nvml.FBTotalBytes: 20 * gib},
						GPM:    map[nvml.GPMMetric]float64{nvml.GPMGraphicsUtil: 20, nvml.GPMSMUtil: 18, nvml.GPMSMOccupancy: 9, nvml.GPMAnyTensorUtil: 4, nvml.GPMDRAMBWUtil: 7, nvml.GPMFP64Util: 0, nvml.GPMFP32Util: 15, nvml.GPMFP16Util: 1},
					},
					{
						Info:   nvml.MIGInfo{UUID: migC2, GPUInstanceID: 3, ComputeInstanceID: 1, Profile: "2g.20gb"},
						Values: map[nvml.Reading]float64{nvml.FBFreeBytes: 12 * gib, nvml.FBUsedBytes: 8 * gib, nvml.FBReservedBytes: 0, nvml.FBTotalBytes: 20 * gib},
					},
				},
			},
			{
				Info: nvml.DeviceInfo{Index: 2, Minor: 2, UUID: uuid2, Name: "Tesla T4", PCIBusID: "00000000:3B:00.0", Brand: "Tesla"},
				Values: map[nvml.Reading]float64{
					nvml.ClockSMMHz: 1590, nvml.ClockMemMHz: 5000, nvml.TempGPUCelsius: 52,
					nvml.PowerMilliwatts: 27850, nvml.EnergyMillijoules: 4200000,
					nvml.UtilGPUPercent: 100, nvml.UtilMemoryPercent: 33, nvml.UtilDecoderPercent: 0,
					nvml.FBFreeBytes: 10 * gib, nvml.FBUsedBytes: 5 * gib, nvml.FBReservedBytes: 256 << 20, nvml.FBTotalBytes: 15*gib + 256<<20,
					nvml.PCIeTxKBps: 10, nvml.PCIeRxKBps: 20, nvml.PCIeReplays: 7, nvml.VGPULicensed: 0,
				},
				Errors: map[nvml.Reading]error{
					nvml.UtilEncoderPercent: nvml.NewError("nvmlDeviceGetEncoderUtilization", 999, "Unknown Error", nil),
				},
			},
		},
	}
}

// fakePods is what the fake kubelet answers for fakeNode.
func fakePods() *v1.ListPodResourcesResponse {
	dev := func(res string, ids ...string) []*v1.ContainerDevices {
		return []*v1.ContainerDevices{{ResourceName: res, DeviceIds: ids}}
	}
	return &v1.ListPodResourcesResponse{PodResources: []*v1.PodResources{
		{Name: "trainer-0", Namespace: "ml", Containers: []*v1.ContainerResources{
			{Name: "trainer", Devices: dev("nvidia.com/gpu", uuid0)},
			{Name: "sidecar"},
		}},
		{Name: "llm-0", Namespace: "inference", Containers: []*v1.ContainerResources{
			{Name: "server", Devices: dev("nvidia.com/mig-3g.40gb", migA)},
		}},
		{Name: "embed-0", Namespace: "inference", Containers: []*v1.ContainerResources{
			{Name: "embed", Devices: dev("nvidia.com/mig-2g.20gb", migC1)},
		}},
		{Name: "embed-1", Namespace: "inference", Containers: []*v1.ContainerResources{
			{Name: "embed", Devices: dev("nvidia.com/mig-2g.20gb", migC2)},
		}},
		{Name: "notebook-a", Namespace: "dev", Containers: []*v1.ContainerResources{
			{Name: "jupyter", Devices: dev("nvidia.com/gpu", uuid2+"::0")},
		}},
		{Name: "notebook-b", Namespace: "dev", Containers: []*v1.ContainerResources{
			{Name: "jupyter", Devices: dev("nvidia.com/gpu.shared", uuid2+"::1")},
		}},
		{Name: "nic-user", Namespace: "net", Containers: []*v1.ContainerResources{
			{Name: "app", Devices: dev("example.com/sriov", "0000:5e:00.1")},
		}},
	}}
}

// fakeKubelet serves the pod-resources API on a unix socket.
type fakeKubelet struct {
	v1.UnimplementedPodResourcesListerServer
	socket string

	mu    sync.Mutex
	resp  *v1.ListPodResourcesResponse
	err   error
	calls int
}

func (k *fakeKubelet) List(context.Context, *v1.ListPodResourcesRequest) (*v1.ListPodResourcesResponse, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls++
	return k.resp, k.err
}

func (k *fakeKubelet) set(resp *v1.ListPodResourcesResponse, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.resp, k.err = resp, err
}

// startKubelet starts a fake kubelet; its socket is in a short temporary directory
// (unix socket paths are limited to 108 bytes).
func startKubelet(t testing.TB, resp *v1.ListPodResourcesResponse) *fakeKubelet {
	t.Helper()
	dir, err := os.MkdirTemp("", "kubelet")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	k := &fakeKubelet{socket: filepath.Join(dir, "kubelet.sock"), resp: resp}
	lis, err := net.Listen("unix", k.socket)
	require.NoError(t, err)
	srv := grpc.NewServer()
	v1.RegisterPodResourcesListerServer(srv, k)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(lis) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return k
}

func testLogger(t testing.TB) *slog.Logger {
	return pipelinetest.Options(t, "log", pipelinetest.NewHost()).Logger
}

// testArgs are valid arguments for the fake node.
func testArgs(socket string) *Arguments {
	a := DefaultArguments()
	a.Hostname = "node-a"
	a.PodResourcesSocket = socket
	a.CollectInterval = model.Duration(minInterval)
	a.RecheckInterval = model.Duration(minInterval)
	return a
}

// fakeRegistration builds components on lib instead of the real NVML.
func fakeRegistration(lib nvml.Library) pipeline.Registration {
	return pipeline.Register(Type, DefaultArguments, func(opts pipeline.Options, args *Arguments) (*Component, error) {
		return newComponent(opts, args, func(string) nvml.Library { return lib })
	}, Registration.Exports...)
}

// running is a component under test.
type running struct {
	c      *Component
	opts   pipeline.Options
	host   *pipelinetest.Host
	logs   *pipelinetest.LogBuffer
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, lib nvml.Library, args *Arguments) *running {
	t.Helper()
	host := pipelinetest.NewHost()
	opts := pipelinetest.Options(t, Type+"/test", host)
	logs := &pipelinetest.LogBuffer{}
	opts.Logger = logs.Logger(slog.LevelInfo)
	c, err := newComponent(opts, args, func(string) nvml.Library { return lib })
	require.NoError(t, err)
	host.Export(opts.ID, c)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{c: c, opts: opts, host: host, logs: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

func (r *running) stop() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
		r.cancel = nil
	}
}

// scrape fetches the exposition through the component's handler.
func (r *running) scrape(t testing.TB) (int, string) {
	t.Helper()
	srv := httptest.NewServer(http.StripPrefix("/x", r.c.Handler()))
	defer srv.Close()
	return backendtest.Fetch(t, http.MethodGet, srv.URL+"/x/metrics")
}

func (r *running) counter(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	return pipelinetest.MetricValue(t, r.opts.Registerer.(prometheus.Gatherer), name, labels...)
}

// parse parses a text exposition.
func parse(t testing.TB, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewBufferString(text))
	require.NoError(t, err)
	return fams
}

// encode renders families in the text format, as a scrape would see them.
func encode(t testing.TB, fams []*dto.MetricFamily) string {
	t.Helper()
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range fams {
		require.NoError(t, enc.Encode(f))
	}
	return buf.String()
}

// collectTwice runs two passes (GPM values need a pair of samples) against lib with the
// default counters and attribution from pods, and returns the families.
func collectTwice(t testing.TB, lib nvml.Library, pods *v1.ListPodResourcesResponse) ([]*dto.MetricFamily, *collector, *metrics) {
	t.Helper()
	specs, err := DefaultCounters()
	require.NoError(t, err)
	m, err := newMetrics(prometheus.NewRegistry())
	require.NoError(t, err)
	col := newCollector(lib, testLogger(t), m, specs)
	require.NoError(t, col.openSession())
	t.Cleanup(col.closeSession)
	var attr attribution
	if pods != nil {
		k := startKubelet(t, pods)
		as := listPods(t, k.socket, DefaultResourceNames)
		attr = newAttribution(as)
	}
	_, err = col.pass()
	require.NoError(t, err)
	gpus, err := col.pass()
	require.NoError(t, err)
	fams, _ := build(specs, col.sys, "node-a", gpus, attr)
	return fams, col, m
}

func promGatherer(m *metrics) prometheus.Gatherer {
	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{m.collections, m.errors, m.xids, m.attribution, m.dropped} {
		reg.MustRegister(c)
	}
	return reg
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'f', 6, 64) }
