package gpu

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/sondehq/sonde/components/prometheus/exporter/gpu/podresources"
	"github.com/sondehq/sonde/pipeline"
)

// podListTimeout bounds one pod-resources query.
const podListTimeout = 5 * time.Second

// runner is the state of one Run: the NVML session, the pod-resources client and what
// was last reported. Only Run's goroutine touches it.
type runner struct {
	c       *Component
	col     *collector
	libPath string
	version int // config version the collector was set up with

	available   bool
	unavailable string // last "unavailable" reason logged
	target      *Arguments

	pods       *podresources.Client
	podsSocket string
	attr       attribution
	attrAt     time.Time
	attrErr    error
}

// step runs one collection and returns the delay until the next.
func (r *runner) step(ctx context.Context, cfg config) time.Duration {
	started := time.Now()
	interval := time.Duration(cfg.args.CollectInterval)
	r.setup(cfg)
	if err := r.col.openSession(); err != nil {
		r.setUnavailable(cfg, err.Error())
		return time.Duration(cfg.args.RecheckInterval)
	}
	if !r.available {
		r.available, r.unavailable = true, ""
		r.c.m.available.Set(1)
		r.c.opts.Logger.Info("NVML ready", "driver", r.col.sys.DriverVersion, "nvml", r.col.sys.NVMLVersion)
	}
	r.refreshPods(ctx, cfg)

	gpus, err := r.col.pass()
	r.c.m.collections.Inc()
	if errors.Is(err, errSessionLost) {
		r.col.closeSession()
		r.setUnavailable(cfg, "NVIDIA driver went away: "+err.Error())
		return time.Duration(cfg.args.RecheckInterval)
	}
	var notes []string
	if err != nil {
		notes = append(notes, "collection failed: "+err.Error())
		gpus = nil
	}
	fams, st := build(cfg.specs, r.col.sys, cfg.args.hostname(), gpus, r.attr)
	r.c.snap.Store(&fams)
	r.c.m.devices.Set(float64(len(gpus)))
	r.c.m.series.Set(float64(st.series))
	if st.unmatched > 0 {
		r.c.m.dropped.WithLabelValues(dropUnmatchedDev).Add(float64(st.unmatched))
		notes = append(notes, fmt.Sprintf("%d device ids from pod-resources match no GPU on this node", st.unmatched))
	}
	notes = append(notes, problems(gpus)...)
	if r.attrErr != nil {
		notes = append(notes, fmt.Sprintf("pod attribution failing (%s): %v", podresources.Reason(r.attrErr), r.attrErr))
	}
	if len(cfg.unknown) > 0 {
		notes = append(notes, "counters_file fields not implemented, skipped: "+strings.Join(cfg.unknown, ", "))
	}
	// Failing GPUs and attribution do not make sonde unready: the rest of the node's
	// telemetry must keep flowing. They are stated in the message and counted.
	r.c.setHealth(pipeline.HealthHealthy, strings.Join(notes, "; "))
	r.publish(cfg)

	elapsed := time.Since(started)
	r.c.m.duration.Observe(elapsed.Seconds())
	return max(interval-elapsed, 0)
}

// setup (re)creates the collector when the library path or counters changed.
func (r *runner) setup(cfg config) {
	if r.col != nil && r.libPath != cfg.args.LibraryPath {
		r.col.closeSession()
		r.col = nil
	}
	if r.col == nil {
		r.libPath = cfg.args.LibraryPath
		r.col = newCollector(r.c.newLib(cfg.args.LibraryPath), r.c.opts.Logger, r.c.m, cfg.specs)
		r.version = cfg.version
	}
	if r.version != cfg.version {
		r.col.setSpecs(cfg.specs)
		r.version = cfg.version
	}
}

// applyUpdate reacts to new arguments between collections: it says whether to collect
// at once (new library, or NVML unavailable) or else the new delay (0: keep the timer).
func (r *runner) applyUpdate(cfg config) (time.Duration, bool) {
	if !r.available || cfg.args.LibraryPath != r.libPath {
		return 0, true
	}
	r.publish(cfg)
	return time.Duration(cfg.args.CollectInterval), false
}

// setUnavailable reports a node without usable NVML; the reason is logged once.
func (r *runner) setUnavailable(cfg config, msg string) {
	if r.available || r.unavailable != msg {
		r.c.opts.Logger.Info("GPU metrics unavailable", "reason", msg, "recheck_interval", cfg.args.RecheckInterval)
	}
	r.available, r.unavailable = false, msg
	r.c.m.available.Set(0)
	r.c.m.devices.Set(0)
	r.c.m.series.Set(0)
	empty := []*dto.MetricFamily{}
	r.c.snap.Store(&empty)
	r.c.setHealth(pipeline.HealthUnavailable, msg)
	if r.target != nil {
		r.c.publish(nil, false)
		r.target = nil
	}
	r.closePods()
}

// publish publishes the target when it is new or its labels changed.
func (r *runner) publish(cfg config) {
	a := cfg.args
	if r.target != nil && r.target.Job == a.Job && r.target.hostname() == a.hostname() {
		return
	}
	r.c.publish(&a, true)
	r.target = &a
}

// refreshPods asks the kubelet which containers hold which devices. After a failure the
// previous answer is kept for up to three intervals, so that one slow answer does not
// strip the pod labels; then series go without them until the kubelet answers again.
func (r *runner) refreshPods(ctx context.Context, cfg config) {
	socket := cfg.args.PodResourcesSocket
	if socket != r.podsSocket {
		r.closePods()
	}
	if socket == "" {
		return
	}
	if r.pods == nil {
		p, err := podresources.New(socket)
		if err != nil {
			r.attributionFailed(cfg, err)
			return
		}
		r.pods, r.podsSocket = p, socket
	}
	interval := time.Duration(cfg.args.CollectInterval)
	lctx, cancel := context.WithTimeout(ctx, min(podListTimeout, interval/2))
	defer cancel()
	as, err := r.pods.List(lctx, func(res string) bool { return matchResource(cfg.args.ResourceNames, res) })
	if err != nil && ctx.Err() != nil {
		return // stopping: not the kubelet's fault
	}
	if err != nil {
		r.attributionFailed(cfg, err)
		return
	}
	if r.attrErr != nil {
		r.c.opts.Logger.Info("pod attribution works again", "socket", socket)
	}
	r.attr, r.attrAt, r.attrErr = newAttribution(as), time.Now(), nil
}

func (r *runner) attributionFailed(cfg config, err error) {
	reason := podresources.Reason(err)
	r.c.m.attribution.WithLabelValues(reason).Inc()
	if r.attrErr == nil || podresources.Reason(r.attrErr) != reason {
		r.c.opts.Logger.Warn("pod attribution failed; GPU series carry no pod labels until it works",
			"socket", cfg.args.PodResourcesSocket, "reason", reason, "err", err)
	}
	r.attrErr = err
	if time.Since(r.attrAt) > 3*time.Duration(cfg.args.CollectInterval) {
		r.attr = nil
	}
}

func (r *runner) closePods() {
	if r.pods != nil {
		_ = r.pods.Close()
	}
	r.pods, r.podsSocket, r.attr, r.attrErr = nil, "", nil, nil
}

// close ends the NVML session and the pod-resources connection.
func (r *runner) close() {
	if r.col != nil {
		r.col.closeSession()
	}
	r.closePods()
}
