package kubernetesevents

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/sondehq/sonde/discovery/kubetest"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// Two agents against one API server: exactly one forwards, each event arrives once; when
// the leader goes (it stops, or it is cut off and stops renewing), the other takes over,
// skips what the leader delivered and forwards what comes next. The failover time is
// logged.
func TestOneAgentForwardsAndAnotherTakesOver(t *testing.T) {
	t.Parallel()
	s := kubetest.Shared(t)
	cases := []struct {
		name     string
		viaProxy bool // the first leader reaches the API server through a fault proxy
		fail     func(leader *agent, p *faultProxy)
	}{
		{"the leader stops", false, func(a *agent, _ *faultProxy) { a.stop() }},
		{"the leader stops renewing", true, func(_ *agent, p *faultProxy) { p.Cut() }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args, ns := nsArgs(t, s, "events")      // the default lease timings: 15s, 10s, 2s
			args.LeaderElection.FailoverOverlap = 0 // so that what is sent again is exactly what the mark allows
			direct := args.ClientArgs

			aArgs, bArgs := *args, *args
			aArgs.ClientArgs, bArgs.ClientArgs = direct, direct
			var proxy *faultProxy
			if tc.viaProxy {
				proxy = newFaultProxy(t, s)
				aArgs.ClientArgs = clientArgs(s, proxy.URL, kubetest.AdminToken)
			}
			a := startAgent(t, "agent-a", &aArgs)
			require.Same(t, a, waitLeader(t, a), "the first agent takes the free Lease")
			b := startAgent(t, "agent-b", &bArgs)

			// Events of ten minutes ago, a second apart.
			base := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
			const n = 5
			for i := range n {
				createEvent(t, s, ns, "cart", fmt.Sprintf("before-%d", i), base.Add(time.Duration(i)*time.Second))
			}
			require.Eventually(t, func() bool { return len(a.lines()) == n }, time.Minute, 10*time.Millisecond)
			require.Eventually(t, func() bool {
				return b.opts.Health.Get().Message == "standby: agent-a forwards the events"
			}, time.Minute, 10*time.Millisecond)
			require.Equal(t, pipeline.HealthHealthy, b.opts.Health.Get().State)
			require.Equal(t, "leading: forwarding events", a.opts.Health.Get().Message)
			require.Empty(t, b.lines(), "the standby agent forwards nothing")
			require.Equal(t, 1.0, testutil.ToFloat64(a.c.metrics.leader))
			require.Equal(t, 0.0, testutil.ToFloat64(b.c.metrics.leader))
			e, count := a.entry("before-2")
			require.Equal(t, 1, count)
			require.Equal(t, labelsOf(ns), e.Labels)
			require.True(t, base.Add(2*time.Second).Equal(e.Timestamp), "the event's own time: %s", e.Timestamp)
			require.Equal(t, `name=cart kind=Pod objectAPIversion=v1 eventRV=`+rvOf(e.Line)+
				` sourcecomponent=kubelet sourcehost=node-1 reason=Started type=Normal count=1 msg="before-2"`, e.Line)

			// The leader's renewals carry its delivered mark: its newest event, acknowledged.
			last := base.Add((n - 1) * time.Second)
			require.Eventually(t, func() bool { return leaseMark(t, s, ns, DefaultLeaseName).Equal(last) }, time.Minute, 10*time.Millisecond)
			require.Eventually(t, func() bool { return b.c.lock.Load().Mark().Equal(last) }, time.Minute, 10*time.Millisecond,
				"the standby agent reads the mark with every look at the Lease")

			start := time.Now()
			tc.fail(a, proxy)
			createEvent(t, s, ns, "cart", "after", time.Now())
			require.Eventually(t, func() bool { _, k := b.entry("after"); return k == 1 }, time.Minute, 10*time.Millisecond,
				"the other agent takes over")
			t.Logf("failover (%s; lease_duration %s, renew_deadline %s, retry_period %s): %.1fs until the other agent forwarded a new event",
				tc.name, args.LeaderElection.LeaseDuration, args.LeaderElection.RenewDeadline, args.LeaderElection.RetryPeriod, time.Since(start).Seconds())
			require.Eventually(t, func() bool { return !a.leading() }, time.Minute, 10*time.Millisecond,
				"the old leader stops leading (at once when stopped, after renew_deadline when cut off)")
			require.Equal(t, 1.0, testutil.ToFloat64(b.c.metrics.leader))
			_, count = a.entry("after")
			require.Zero(t, count, "the old leader forwards nothing new")

			// The new leader skipped the events older than the mark and sent again the one at
			// the mark: the same stream, timestamp and line as the first time, which Loki
			// drops as a duplicate.
			require.Equal(t, float64(n-1), testutil.ToFloat64(b.c.metrics.skipped.WithLabelValues(skipDelivered)))
			for i := range n - 1 {
				_, k := b.entry(fmt.Sprintf("before-%d", i))
				require.Zero(t, k, "before-%d was delivered by the old leader", i)
			}
			first, _ := a.entry(fmt.Sprintf("before-%d", n-1))
			again, k := b.entry(fmt.Sprintf("before-%d", n-1))
			require.Equal(t, 1, k)
			require.Equal(t, first.Line, again.Line)
			require.Equal(t, first.Labels, again.Labels)
			require.True(t, first.Timestamp.Equal(again.Timestamp))
			require.Len(t, b.lines(), 2, "the event at the mark and the new one")
		})
	}
}

// rvOf returns the eventRV of a line.
func rvOf(line string) string {
	_, rest, _ := strings.Cut(line, "eventRV=")
	rv, _, _ := strings.Cut(rest, " ")
	return rv
}

// An event that changes (kubelet's count going up) is a line per version, stamped with
// its new last time.
func TestEventVersions(t *testing.T) {
	t.Parallel()
	s := kubetest.Shared(t)
	args, ns := nsArgs(t, s, "versions")
	args.LogFormat = FormatJSON
	a := startAgent(t, "agent-a", args)
	waitLeader(t, a)

	at := time.Now().Truncate(time.Second)
	ev := createEvent(t, s, ns, "cart", "pulling", at)
	require.Eventually(t, func() bool { return len(a.lines()) == 1 }, time.Minute, 10*time.Millisecond)
	ev.Count, ev.LastTimestamp = 2, metav1.NewTime(at.Add(time.Second))
	_, err := s.Admin.CoreV1().Events(ns).Update(context.Background(), ev, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(a.lines()) == 2 }, time.Minute, 10*time.Millisecond)
	second := a.host.LogsSink.Entries()[1]
	require.Contains(t, second.Line, `"count":2`)
	require.Contains(t, second.Line, `"msg":"pulling"`)
	require.True(t, at.Add(time.Second).Equal(second.Timestamp))
	require.Zero(t, testutil.ToFloat64(a.c.metrics.skipped.WithLabelValues(skipUnchanged)))
}

// The RBAC of deploy/rbac is enough: the agent takes and renews the Lease in its own
// namespace (from $POD_NAMESPACE) and watches the events of every namespace. Without the
// Role for the Lease, the agent stands by and says what it lacks.
func TestDeployRBAC(t *testing.T) {
	s := kubetest.Shared(t)
	token := sondeToken(t, s)
	t.Setenv("POD_NAMESPACE", "sonde")
	ns := kubetest.Unique("rbac")
	s.CreateNamespace(t, ns)

	t.Run("enough", func(t *testing.T) {
		args := DefaultArguments() // every namespace, the default Lease
		args.ForwardTo = []string{"loki.write/test"}
		args.ClientArgs = clientArgs(s, s.URL, token)
		a := startAgent(t, "sonde-abcde", args)
		waitLeader(t, a)
		at := time.Now().Truncate(time.Second)
		createEvent(t, s, ns, "web", "rbac", at)
		require.Eventually(t, func() bool { _, k := a.entry("rbac"); return k == 1 }, time.Minute, 10*time.Millisecond)
		require.Eventually(t, func() bool { return a.opts.Health.Get().Message == "leading: forwarding events" }, time.Minute, 10*time.Millisecond)
		require.Eventually(t, func() bool { return !leaseMark(t, s, "sonde", DefaultLeaseName).Before(at) }, time.Minute, 10*time.Millisecond,
			"renewals (update on the Lease) are allowed")
		require.Zero(t, testutil.ToFloat64(a.c.metrics.leaseErrors))

		a.stop()
		l, err := s.Admin.CoordinationV1().Leases("sonde").Get(context.Background(), DefaultLeaseName, metav1.GetOptions{})
		require.NoError(t, err)
		require.Empty(t, ptr.Deref(l.Spec.HolderIdentity, ""), "released at stop")
		require.False(t, readMark(l).Before(at), "with the last mark")
	})

	t.Run("no lease rights", func(t *testing.T) {
		other := s.TokenForClusterRole(t, ns, "events-only", "sonde") // the ClusterRole without the Role
		args := DefaultArguments()
		args.ForwardTo = []string{"loki.write/test"}
		args.ClientArgs = clientArgs(s, s.URL, other)
		a := startAgent(t, "sonde-fghij", args)
		require.Eventually(t, func() bool { return a.opts.Health.Get().State == pipeline.HealthUnhealthy }, time.Minute, 10*time.Millisecond)
		msg := a.opts.Health.Get().Message
		require.Contains(t, msg, "RBAC needs get, create and update on leases")
		require.Contains(t, msg, "forbidden")
		require.False(t, a.leading())
		require.Empty(t, a.lines())
	})
}

// The Lease carries only what forward_to acknowledged: while the sink holds the batches the
// renewals go on without a mark; once it acknowledges them, the mark is the newest event.
func TestMarkFollowsAcknowledgements(t *testing.T) {
	t.Parallel()
	s := kubetest.Shared(t)
	args, ns := nsArgs(t, s, "acks")
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	const n = 20
	for i := range n { // listed in name order: not in time order
		createEvent(t, s, ns, "cart", fmt.Sprintf("e-%d", i), base.Add(time.Duration(i)*time.Second))
	}
	host := pipelinetest.NewHost()
	host.LogsSink.Hold(true)
	a := startAgentOn(t, host, "agent-a", args)
	waitLeader(t, a)
	require.Eventually(t, func() bool { return len(a.lines()) == n }, time.Minute, 10*time.Millisecond)

	renewals := func() time.Time {
		l, err := s.Admin.CoordinationV1().Leases(ns).Get(context.Background(), DefaultLeaseName, metav1.GetOptions{})
		require.NoError(t, err)
		return l.Spec.RenewTime.Time
	}
	first := renewals()
	require.Eventually(t, func() bool { return renewals().After(first) }, time.Minute, 50*time.Millisecond, "a renewal after the lines were handed over")
	require.True(t, leaseMark(t, s, ns, DefaultLeaseName).IsZero(), "no mark before the acknowledgement")

	require.Positive(t, host.LogsSink.AckHeld(nil))
	require.Eventually(t, func() bool {
		return leaseMark(t, s, ns, DefaultLeaseName).Equal(base.Add((n - 1) * time.Second))
	}, time.Minute, 10*time.Millisecond)
}
