package gpu

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sondehq/sonde/components/prometheus/exporter/gpu/nvml"
	"github.com/sondehq/sonde/components/prometheus/exporter/gpu/nvml/nvmlfake"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

const wait, tick = 20 * time.Second, 10 * time.Millisecond

// The tests without a fake kubelet run in a synctest bubble: the fake NVML, the component's
// timer and its handler are all in memory, so synctest.Wait returns once a collection pass
// has finished, and time.Sleep of collect_interval (or recheck_interval, both minInterval in
// testArgs) moves to the next pass exactly. They read the exposition with serve, which calls
// the handler without a socket. The tests with a fake kubelet (gRPC on a real unix socket)
// stay on real time: a goroutine blocked on a socket is never durably blocked.

func TestLifecycle(t *testing.T) {
	k := startKubelet(t, fakePods())
	lib := fakeNode()
	updated := testArgs(k.socket)
	updated.Counters = []string{"DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_PROF_SM_ACTIVE"}
	updated.Job = "gpu"
	pipelinetest.Lifecycle(t, fakeRegistration(lib), testArgs(k.socket), updated)

	open, inits, _, samplers, sets := lib.Stats()
	require.False(t, open, "NVML is shut down when Run returns")
	require.LessOrEqual(t, inits, 1)
	require.Zero(t, samplers, "GPM samples are freed")
	require.Zero(t, sets, "the event set is freed")
}

// TestStopReleasesEverything runs real collections (NVML, GPM pairs, events, gRPC to the
// kubelet), stops, and checks that NVML is shut down, every GPM sample and event set is
// freed and no goroutine is left.
func TestStopReleasesEverything(t *testing.T) {
	k := startKubelet(t, fakePods())
	ignore := goleak.IgnoreCurrent()
	lib := fakeNode()
	r := start(t, lib, testArgs(k.socket))
	r.waitFor(t, `DCGM_FI_PROF_SM_ACTIVE{gpu="0"`)
	r.waitFor(t, `pod="trainer-0"`)
	_, _, _, samplers, sets := lib.Stats()
	require.Equal(t, 4, samplers, "GPU 0 and three MIG instances")
	require.Equal(t, 1, sets)
	r.stop()

	open, inits, _, samplers, sets := lib.Stats()
	require.False(t, open)
	require.Equal(t, 1, inits)
	require.Zero(t, samplers)
	require.Zero(t, sets)
	goleak.VerifyNone(t, ignore)
}

// TestServesCachedSnapshot: the first pass runs at start, scrapes read its result and
// never call NVML, and the published target points at the component's handler.
func TestServesCachedSnapshot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lib := fakeNode()
		args := testArgs("")
		args.CollectInterval = model.Duration(time.Hour)
		r := start(t, lib, args)
		body := r.collected(t, `DCGM_FI_DEV_GPU_TEMP{gpu="2"`)
		require.NotContains(t, body, `pod=`, "attribution is off")

		_, _, calls, _, _ := lib.Stats()
		for range 20 {
			code, _ := r.serve(t)
			require.Equal(t, http.StatusOK, code)
		}
		_, _, after, _, _ := lib.Stats()
		require.Equal(t, calls, after, "scrapes make no NVML calls")

		require.Equal(t, pipeline.Targets{{
			model.AddressLabel:     "127.0.0.1:12345",
			model.MetricsPathLabel: model.LabelValue("/api/v1/components/" + Type + "/test/metrics"),
			model.InstanceLabel:    "node-a",
			model.JobLabel:         "dcgm-exporter",
		}}, r.host.Published(r.opts.ID))
		h := r.opts.Health.Get()
		require.Equal(t, pipeline.HealthHealthy, h.State)
		require.Contains(t, h.Message, "GPU 2 ("+uuid2+") errors: nvmlDeviceGetEncoderUtilization: Unknown Error")
		require.Equal(t, 1.0, r.counter(t, "sonde_gpu_nvml_available"))
		require.Equal(t, 3.0, r.counter(t, "sonde_gpu_devices"))

		r.stop()
		code, _ := r.serve(t)
		require.Equal(t, http.StatusServiceUnavailable, code)
	})
}

// TestUnavailable: no library, no driver, no permission or no GPU make the component
// "unavailable" with a clear message, logged once, without target or series; it checks
// again every recheck_interval and recovers when the driver appears.
func TestUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name    string
		initErr error
		noGPU   bool
		want    string
	}{
		{"no library", nvml.NewError("nvmlInit", 12, "libnvidia-ml.so could not be loaded", nvml.ErrLibraryNotFound), false, "libnvidia-ml.so.1) not found"},
		{"no driver", nvml.NewError("nvmlInit", 9, "Driver Not Loaded", nvml.ErrDriverNotLoaded), false, "NVIDIA driver not loaded"},
		{"no permission", nvml.NewError("nvmlInit", 4, "Insufficient Permissions", nvml.ErrNoPermission), false, "no permission"},
		{"no GPU", nil, true, "no NVIDIA GPU found (driver 550.54.15)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				lib := fakeNode()
				gpus := lib.GPUs
				lib.InitErr = tc.initErr
				if tc.noGPU {
					lib.GPUs = nil
				}
				r := start(t, lib, testArgs(""))
				synctest.Wait()
				_, inits, _, _, _ := lib.Stats()
				require.Equal(t, 1, inits, "NVML is tried at start")
				time.Sleep(minInterval)
				synctest.Wait()
				_, inits, _, _, _ = lib.Stats()
				require.Equal(t, 2, inits, "NVML is tried again every recheck_interval")

				h := r.opts.Health.Get()
				require.Equal(t, pipeline.HealthUnavailable, h.State)
				require.Contains(t, h.Message, tc.want)
				require.Equal(t, 1, strings.Count(r.logs.String(), "GPU metrics unavailable"), "logged once:\n%s", r.logs.String())
				require.Empty(t, r.host.Published(r.opts.ID))
				code, body := r.serve(t)
				require.Equal(t, http.StatusOK, code)
				require.Empty(t, body)
				open, _, _, _, _ := lib.Stats()
				require.False(t, open, "an unusable NVML session is not kept open")
				require.Zero(t, r.counter(t, "sonde_gpu_nvml_available"))

				lib.Update(func(l *nvmlfake.Library) { l.InitErr, l.GPUs = nil, gpus })
				time.Sleep(minInterval) // the next recheck
				r.collected(t, `DCGM_FI_DEV_GPU_TEMP{gpu="0"`)
				require.Equal(t, pipeline.HealthHealthy, r.opts.Health.Get().State)
				require.Len(t, r.host.Published(r.opts.ID), 1)
			})
		})
	}
}

// TestGPULost: a GPU that falls off the bus (XID 79, then every call fails) loses its
// series, is counted and named in the health message; the other GPUs carry on.
func TestGPULost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lib := fakeNode()
		r := start(t, lib, testArgs(""))
		r.collected(t, `DCGM_FI_DEV_GPU_TEMP{gpu="0"`)

		lib.Emit(nvml.Event{UUID: uuid0, XID: 79, GPUInstanceID: -1, ComputeInstanceID: -1})
		lib.Update(func(l *nvmlfake.Library) { l.GPUs[0].Lost = true })
		time.Sleep(minInterval) // the next pass
		body := r.collected(t, `DCGM_FI_DEV_GPU_TEMP{gpu="2"`)
		require.NotContains(t, body, `gpu="0"`)
		require.GreaterOrEqual(t, r.counter(t, "sonde_gpu_errors_total", "gpu", "0", "reason", reasonGPULost), 1.0)
		require.Equal(t, 1.0, r.counter(t, "sonde_gpu_xid_errors_total", "gpu", "0", "xid", "79"))
		h := r.opts.Health.Get()
		require.Equal(t, pipeline.HealthHealthy, h.State, "a lost GPU does not make sonde unready")
		require.Contains(t, h.Message, "GPU 0 ("+uuid0+") lost")
		require.Equal(t, 1, strings.Count(r.logs.String(), "GPU lost"), "logged once")
	})
}

// TestGPUVanishes: a GPU that is no longer enumerated is forgotten, and its GPM samples
// are freed.
func TestGPUVanishes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lib := fakeNode()
		r := start(t, lib, testArgs(""))
		time.Sleep(minInterval)
		r.collected(t, `DCGM_FI_PROF_SM_ACTIVE{gpu="0"`) // the second pass has run
		lib.Update(func(l *nvmlfake.Library) { l.GPUs = l.GPUs[1:] })
		time.Sleep(minInterval) // the next pass
		body := r.collected(t, uuid1)
		require.NotContains(t, body, uuid0)
		require.Contains(t, r.logs.String(), "GPU vanished")
		_, _, _, samplers, _ := lib.Stats()
		require.Equal(t, 3, samplers, "GPU 0's sampler is freed; the three MIG instances of GPU 1 keep theirs")
	})
}

// TestAttributionFailure: when the kubelet cannot be asked, the reason is in the health
// message and counted, and series go without pod labels; attribution resumes when the
// kubelet answers again.
func TestAttributionFailure(t *testing.T) {
	for _, tc := range []struct {
		name   string
		setup  func(*fakeKubelet) string
		reason string
	}{
		{"socket missing", func(k *fakeKubelet) string { return k.socket + ".missing" }, "socket_missing"},
		{"kubelet error", func(k *fakeKubelet) string {
			k.set(nil, status.Error(codes.Internal, "boom"))
			return k.socket
		}, "error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := startKubelet(t, fakePods())
			socket := tc.setup(k)
			r := start(t, fakeNode(), testArgs(socket))
			body := r.waitFor(t, `DCGM_FI_DEV_GPU_TEMP{gpu="0"`)
			require.NotContains(t, body, `pod="`)
			require.Eventually(t, func() bool {
				return strings.Contains(r.opts.Health.Get().Message, "pod attribution failing ("+tc.reason+")")
			}, wait, tick)
			require.GreaterOrEqual(t, r.counter(t, "sonde_gpu_pod_attribution_errors_total", "reason", tc.reason), 1.0)

			k.set(fakePods(), nil)
			args := testArgs(k.socket)
			require.NoError(t, r.c.Update(args))
			r.waitFor(t, `pod="trainer-0"`)
			require.Eventually(t, func() bool { return !strings.Contains(r.opts.Health.Get().Message, "attribution") }, wait, tick)
		})
	}
}

// TestUpdate changes the counter list and the job in place.
func TestUpdate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := start(t, fakeNode(), testArgs(""))
		r.collected(t, `DCGM_FI_DEV_POWER_USAGE{`)
		args := testArgs("")
		args.Counters = []string{"DCGM_FI_DEV_GPU_TEMP"}
		args.Job = "gpu"
		require.NoError(t, r.c.Update(args))
		time.Sleep(minInterval) // the new counters apply at the next pass
		body := r.collected(t, "DCGM_FI_DEV_GPU_TEMP{")
		require.NotContains(t, body, "DCGM_FI_DEV_POWER_USAGE")
		require.Equal(t, model.LabelValue("gpu"), r.host.Published(r.opts.ID)[0][model.JobLabel])
	})
}

// TestCheck runs the gpu-check engine on the fake node.
func TestCheck(t *testing.T) {
	specs, err := DefaultCounters()
	require.NoError(t, err)
	rep, err := Check(fakeNode(), specs, "node-a", 0, testLogger(t))
	require.NoError(t, err)
	require.Equal(t, "550.54.15", rep.Driver)
	require.Len(t, rep.GPUs, 6, "three GPUs and three MIG instances")
	require.Contains(t, rep.Exposition, `DCGM_FI_PROF_SM_ACTIVE{gpu="0"`)

	status := func(g CheckGPU, name string) string {
		for _, f := range g.Fields {
			if f.Name == name {
				return f.Status + " " + f.Value
			}
		}
		return "missing"
	}
	h100, mig, t4 := rep.GPUs[0], rep.GPUs[2], rep.GPUs[5]
	require.True(t, h100.GPM)
	require.Equal(t, "ok 0.8", status(h100, "DCGM_FI_PROF_SM_ACTIVE"))
	require.Equal(t, "ok 550.54.15", status(h100, "DCGM_FI_DRIVER_VERSION"))
	require.Equal(t, "GPU_I_ID=1 GPU_I_PROFILE=3g.40gb", mig.MIG)
	require.Equal(t, "ok 30720", status(mig, "DCGM_FI_DEV_FB_FREE"))
	require.Equal(t, "whole GPU only ", status(mig, "DCGM_FI_DEV_GPU_TEMP"))
	require.False(t, t4.GPM)
	require.Equal(t, "not supported ", status(t4, "DCGM_FI_DEV_MEMORY_TEMP"))
	require.Equal(t, "not supported ", status(t4, "DCGM_FI_PROF_SM_ACTIVE"))
	require.Equal(t, "no value ", status(t4, "DCGM_FI_DEV_ENC_UTIL"))
	require.NotEmpty(t, t4.Errors)

	lib := fakeNode()
	lib.InitErr = nvml.NewError("nvmlInit", 12, "not found", nvml.ErrLibraryNotFound)
	_, err = Check(lib, specs, "node-a", 0, testLogger(t))
	require.ErrorIs(t, err, ErrNoGPU)
}

// serve fetches the exposition by calling the component's handler, as scrape does but with
// no socket, so that it can be used in a synctest bubble.
func (r *running) serve(t testing.TB) (int, string) {
	t.Helper()
	w := httptest.NewRecorder()
	http.StripPrefix("/x", r.c.Handler()).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/x/metrics", nil))
	return w.Code, w.Body.String()
}

// collected, in a synctest bubble, waits until the component has done all it can at the
// current (fake) instant, checks that the exposition contains s, and returns it.
func (r *running) collected(t *testing.T, s string) string {
	t.Helper()
	synctest.Wait()
	code, body := r.serve(t)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, s)
	return body
}

// waitFor scrapes until the exposition contains s, and returns it.
func (r *running) waitFor(t *testing.T, s string) string {
	t.Helper()
	var body string
	require.Eventually(t, func() bool {
		_, body = r.scrape(t)
		return strings.Contains(body, s)
	}, wait, tick, "exposition never contained %s", s)
	return body
}
