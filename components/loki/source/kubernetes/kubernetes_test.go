package kubernetes

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

func TestFollowLabelsAndTimestamps(t *testing.T) {
	f := newFakeAPI(t)
	f.addPod("shop", "cart", "uid-cart", "app")
	f.write("shop", "cart", "app", at(0, "one"), at(1500, "two"), logLine{ts: base.Add(2 * time.Second), text: ""})
	r := start(t, argsFor(f), nil)
	r.waitLines(t, prefixed("shop/cart/app", "one", "two", "")...)

	f.write("shop", "cart", "app", at(3000, "three"))
	r.waitLines(t, prefixed("shop/cart/app", "one", "two", "", "three")...)

	e := r.host.LogsSink.Entries()[1]
	require.Equal(t, model.LabelSet{"namespace": "shop", "pod": "cart", "container": "app", "job": "shop/cart"}, e.Labels,
		"no stream label: the pods/log API merges stdout and stderr")
	require.Equal(t, base.Add(1500*time.Millisecond), e.Timestamp.UTC())
	require.Equal(t, "uid-cart", e.StructuredMetadata.Get("uid"))

	req := f.logRequests()[0]
	require.Equal(t, logRequest{Namespace: "shop", Pod: "cart", Container: "app", Follow: true}, req, "a new stream starts at the beginning of the log")
	require.Eventually(t, func() bool { return r.opts.Health.Get().State == pipeline.HealthHealthy }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, 1.0, testutil.ToFloat64(r.c.metrics.streams))
}

// A stream that breaks resumes at the last timestamp handed over (the API takes whole
// seconds) and skips what it already sent, also among lines sharing one timestamp.
func TestReconnectWithoutDuplicatesOrLoss(t *testing.T) {
	cases := []struct {
		name  string
		lines []logLine
		cuts  []int // the first requests break after this many lines
	}{
		{"same timestamp, cut in the middle", []logLine{at(100, "a"), at(100, "b"), at(100, "c"), at(100, "d"), at(200, "e")}, []int{2}},
		{"same second, later nanoseconds", []logLine{at(100, "a"), at(200, "b"), at(300, "c"), at(900, "d"), at(1100, "e")}, []int{2, 1}},
		{"several cuts", []logLine{at(0, "a"), at(0, "b"), at(1000, "c"), at(1000, "d"), at(1000, "e"), at(2500, "f")}, []int{1, 2, 1, 1}},
		{"cut before the first line", []logLine{at(0, "a"), at(0, "b")}, []int{0, 0, 1}},
		{"clock going back is not a duplicate", []logLine{at(500, "a"), at(300, "b"), at(700, "c")}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.addPod("shop", "cart", "uid-cart", "app")
			for _, n := range tc.cuts {
				f.cut("shop", "cart", "app", n)
			}
			f.write("shop", "cart", "app", tc.lines...)
			r := start(t, argsFor(f), nil)
			var want []string
			for _, l := range tc.lines {
				want = append(want, "shop/cart/app "+l.text)
			}
			r.waitLines(t, want...)

			// Lines written after the reconnects arrive once too.
			last := tc.lines[len(tc.lines)-1]
			f.write("shop", "cart", "app", logLine{ts: last.ts, text: "same-ts"}, logLine{ts: last.ts.Add(time.Millisecond), text: "later"})
			r.waitLines(t, append(want, "shop/cart/app same-ts", "shop/cart/app later")...)

			reqs := f.logRequests()
			require.Len(t, reqs, len(tc.cuts)+1, "one request per cut, then one that stays open")
			require.Empty(t, reqs[0].SinceTime, "a new stream starts at the beginning of the log")
			if last := reqs[len(reqs)-1]; sum(tc.cuts) > 0 {
				// Resumed at the second of a line already sent.
				since, err := time.Parse(time.RFC3339, last.SinceTime)
				require.NoError(t, err)
				require.True(t, slices.ContainsFunc(tc.lines, func(l logLine) bool { return l.ts.Truncate(time.Second).Equal(since) }), last.SinceTime)
			}
			require.Equal(t, float64(len(tc.cuts)), testutil.ToFloat64(r.c.metrics.reconnects))
		})
	}
}

func TestPodsComeAndGo(t *testing.T) {
	f := newFakeAPI(t)
	r := start(t, argsFor(f), nil)
	require.Eventually(t, func() bool { return r.opts.Health.Get().State == pipeline.HealthHealthy }, 10*time.Second, 5*time.Millisecond)

	// A new pod is followed, every running container of it.
	f.write("shop", "cart", "app", at(0, "cart-1"))
	f.write("shop", "cart", "sidecar", at(1, "side-1"))
	f.addPod("shop", "cart", "uid-cart", "app", "sidecar")
	require.Eventually(t, func() bool { return len(r.lines()) == 2 }, 20*time.Second, 5*time.Millisecond)
	require.ElementsMatch(t, []string{"shop/cart/app cart-1", "shop/cart/sidecar side-1"}, r.lines())
	require.Eventually(t, func() bool { return f.openStreams() == 2 }, 20*time.Second, 5*time.Millisecond)

	// A container that stops: what it wrote last is read, then its stream ends.
	f.write("shop", "cart", "sidecar", at(2, "side-last"))
	f.setPod("shop", "cart", "uid-cart", []string{"app"}, []string{"sidecar"})
	require.Eventually(t, func() bool { return f.openStreams() == 1 && testutil.ToFloat64(r.c.metrics.streams) == 1 }, 20*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return len(r.lines()) == 3 }, 20*time.Second, 5*time.Millisecond)
	require.Equal(t, "shop/cart/sidecar side-last", r.lines()[2])

	// A deleted pod's stream stops.
	f.deletePod("shop", "cart")
	require.Eventually(t, func() bool { return f.openStreams() == 0 && testutil.ToFloat64(r.c.metrics.streams) == 0 }, 20*time.Second, 5*time.Millisecond)
	// Its tailer ends with one last read without follow (refused: the pod is gone).
	var n int
	require.Eventually(t, func() bool {
		reqs := f.logRequests()
		n = len(reqs)
		last := reqs[n-1]
		return last.Pod == "cart" && last.Container == "app" && !last.Follow
	}, 20*time.Second, 5*time.Millisecond)
	f.addPod("web", "front", "uid-front", "nginx")
	f.write("web", "front", "nginx", at(5, "GET /"))
	require.Eventually(t, func() bool { return len(r.lines()) == 4 }, 20*time.Second, 5*time.Millisecond)
	for _, req := range f.logRequests()[n:] {
		require.Equal(t, "front", req.Pod, "no request for the deleted pod after it stopped")
	}
}

// Only acknowledged lines are skipped after a restart: acknowledged ones are not sent
// again, unacknowledged ones are (at-least-once).
func TestRestartResumesFromAcknowledged(t *testing.T) {
	for _, ack := range []bool{true, false} {
		t.Run(map[bool]string{true: "acknowledged", false: "not acknowledged"}[ack], func(t *testing.T) {
			f := newFakeAPI(t)
			f.addPod("shop", "cart", "uid-cart", "app")
			f.write("shop", "cart", "app", at(0, "a"), at(0, "b"), at(0, "c"))
			r1 := start(t, argsFor(f), nil)
			r1.host.LogsSink.Hold(!ack)
			r1.waitLines(t, prefixed("shop/cart/app", "a", "b", "c")...)
			r1.stop()
			if ack {
				b, err := os.ReadFile(filepath.Join(r1.opts.DataPath, positionsFile))
				require.NoError(t, err)
				saved, bad, err := loadPositions(filepath.Join(r1.opts.DataPath, positionsFile))
				require.NoError(t, err, string(b))
				require.Zero(t, bad)
				require.Equal(t, []savedPosition{{UID: "uid-cart", Container: "app", Namespace: "shop", Pod: "cart", Timestamp: base, Lines: 3}}, saved)
			}

			f.write("shop", "cart", "app", at(0, "d"), at(10, "e"))
			r2 := start(t, argsFor(f), &r1.opts)
			if ack {
				r2.waitLines(t, prefixed("shop/cart/app", "d", "e")...)
				require.Equal(t, base.Format(time.RFC3339), f.logRequests()[1].SinceTime)
			} else {
				r2.waitLines(t, prefixed("shop/cart/app", "a", "b", "c", "d", "e")...)
			}
		})
	}
}

func TestForbiddenMakesUnhealthy(t *testing.T) {
	f := newFakeAPI(t)
	f.addPod("shop", "cart", "uid-cart", "app")
	f.forbid("shop", "cart")
	r := start(t, argsFor(f), nil)
	require.Eventually(t, func() bool {
		h := r.opts.Health.Get()
		return h.State == pipeline.HealthUnhealthy && len(h.Message) > 0
	}, 20*time.Second, 5*time.Millisecond)
	require.Contains(t, r.opts.Health.Get().Message, `cannot get resource "pods/log"`)
	require.Contains(t, r.opts.Health.Get().Message, "RBAC needs get on pods/log")
	require.Eventually(t, func() bool { return testutil.ToFloat64(r.c.metrics.refused) >= 2 }, 20*time.Second, 5*time.Millisecond, "retried")
}

func TestUpdateSelectsOtherPods(t *testing.T) {
	f := newFakeAPI(t)
	f.addPod("shop", "cart", "uid-cart", "app")
	f.addPod("web", "front", "uid-front", "nginx")
	f.write("shop", "cart", "app", at(0, "cart"))
	f.write("web", "front", "nginx", at(0, "front"))
	args := argsFor(f)
	args.Namespaces = []string{"shop"}
	r := start(t, args, nil)
	r.waitLines(t, "shop/cart/app cart")

	next := argsFor(f)
	next.Namespaces = []string{"web"}
	require.NoError(t, r.c.Update(next))
	r.waitLines(t, "shop/cart/app cart", "web/front/nginx front")
	require.Eventually(t, func() bool { return f.openStreams() == 1 }, 20*time.Second, 5*time.Millisecond)
}

func TestLifecycle(t *testing.T) {
	f := newFakeAPI(t)
	f.addPod("shop", "cart", "uid-cart", "app")
	f.write("shop", "cart", "app", at(0, "hello"))
	args := argsFor(f)
	updated := argsFor(f)
	updated.Selector = "app=cart"
	pipelinetest.Lifecycle(t, Registration, args, updated)
}

func sum(ns []int) int {
	t := 0
	for _, n := range ns {
		t += n
	}
	return t
}

// TestStopWaitsForAcks: stopped while forward_to holds the acknowledgement of its last
// batch, the component waits for it before saving the positions: a restart sends nothing
// again.
func TestStopWaitsForAcks(t *testing.T) {
	f := newFakeAPI(t)
	f.addPod("shop", "cart", "uid-cart", "app")
	f.write("shop", "cart", "app", at(0, "a"), at(0, "b"), at(0, "c"))
	r1 := start(t, argsFor(f), nil)
	r1.host.LogsSink.Hold(true)
	r1.waitLines(t, prefixed("shop/cart/app", "a", "b", "c")...)
	go func() {
		time.Sleep(300 * time.Millisecond) // a sink acknowledging during the stop
		r1.host.LogsSink.AckHeld(nil)
	}()
	r1.stop()
	saved, bad, err := loadPositions(filepath.Join(r1.opts.DataPath, positionsFile))
	require.NoError(t, err)
	require.Zero(t, bad)
	require.Equal(t, []savedPosition{{UID: "uid-cart", Container: "app", Namespace: "shop", Pod: "cart", Timestamp: base, Lines: 3}}, saved,
		"the acknowledgement that came during the stop is saved")

	f.write("shop", "cart", "app", at(10, "d"))
	r2 := start(t, argsFor(f), &r1.opts)
	r2.waitLines(t, prefixed("shop/cart/app", "d")...)
}
