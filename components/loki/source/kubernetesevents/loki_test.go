package kubernetesevents

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/sondehq/sonde/config"
	"github.com/sondehq/sonde/discovery/kubetest"
	"github.com/sondehq/sonde/exporters/loki/write"
	"github.com/sondehq/sonde/exporters/loki/write/lokitest"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// controllerAgent is loki.source.kubernetes_events → loki.write under a real controller, as
// sonde runs them.
type controllerAgent struct {
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan struct{}
}

func startControllerAgent(t *testing.T, s *kubetest.Server, ns, identity, pushURL string) *controllerAgent {
	t.Helper()
	yml := fmt.Sprintf(`
components:
  loki.source.kubernetes_events/cluster:
    namespaces: [%[1]s]
    api_server: %[2]s
    bearer_token: %[3]s
    tls_config: {ca_file: %[4]q}
    leader_election:
      lease_namespace: %[1]s
      identity: %[5]s
    forward_to: [loki.write/default]
  loki.write/default:
    endpoints:
      - url: %[6]q
        batch_wait: 100ms
`, ns, s.URL, kubetest.AdminToken, s.CAFile, identity, pushURL)
	reg, err := pipeline.NewRegistry(Registration, write.Registration)
	require.NoError(t, err)
	f, err := config.Parse("agent.yaml", []byte(yml), reg, func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	logs := &pipelinetest.LogBuffer{}
	a := &controllerAgent{reg: prometheus.NewRegistry(), done: make(chan struct{})}
	c := pipeline.NewController(pipeline.ControllerOptions{
		Registry: reg, Logger: logs.Logger(slog.LevelInfo), Registerer: a.reg, DataPath: t.TempDir(),
		ShutdownTimeout: 10 * time.Second,
	})
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	go func() { c.Run(ctx); close(a.done) }()
	t.Cleanup(func() {
		a.stop()
		if t.Failed() {
			t.Logf("agent %s logged:\n%s", identity, logs.String())
		}
	})
	require.NoError(t, c.Apply(f.Specs))
	return a
}

func (a *controllerAgent) stop() {
	a.cancel()
	<-a.done
}

// Against a real Loki, with the default failover_overlap (1m): the new leader sends again
// the events of the minute before the old leader's mark, and Loki keeps each event once.
func TestLokiHoldsEachEventOnceAcrossFailover(t *testing.T) {
	t.Parallel()
	s := kubetest.Shared(t)
	loki := lokitest.Start(t)
	ns := kubetest.Unique("loki")
	s.CreateNamespace(t, ns)
	holder := func() string {
		l, err := s.Admin.CoordinationV1().Leases(ns).Get(context.Background(), DefaultLeaseName, metav1.GetOptions{})
		if err != nil {
			return ""
		}
		return ptr.Deref(l.Spec.HolderIdentity, "")
	}

	a := startControllerAgent(t, s, ns, "agent-a", loki.PushURL())
	require.Eventually(t, func() bool { return holder() == "agent-a" }, time.Minute, 10*time.Millisecond)
	b := startControllerAgent(t, s, ns, "agent-b", loki.PushURL())

	base := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	const n = 5
	for i := range n {
		createEvent(t, s, ns, "cart", fmt.Sprintf("before-%d", i), base.Add(time.Duration(i)*time.Second))
	}
	query := fmt.Sprintf(`{job="loki.source.kubernetes_events", namespace=%q}`, ns)
	loki.WaitEntries(t, query, base.Add(-time.Minute), time.Now().Add(time.Minute), n, time.Minute)
	last := base.Add((n - 1) * time.Second)
	require.Eventually(t, func() bool { return leaseMark(t, s, ns, DefaultLeaseName).Equal(last) }, time.Minute, 10*time.Millisecond)

	const forwarded = "sonde_loki_source_kubernetes_events_forwarded_total"
	require.Equal(t, float64(n), pipelinetest.MetricSum(t, a.reg, forwarded))
	a.stop()
	after := time.Now().Truncate(time.Second)
	createEvent(t, s, ns, "cart", "after", after)
	require.Eventually(t, func() bool { return holder() == "agent-b" }, time.Minute, 10*time.Millisecond)
	// Once the new leader's mark reaches the new event, Loki acknowledged everything it sent:
	// the new event and the ones within failover_overlap of the old mark, all of them here.
	require.Eventually(t, func() bool { return !leaseMark(t, s, ns, DefaultLeaseName).Before(after) }, time.Minute, 10*time.Millisecond)

	require.Equal(t, float64(n+1), pipelinetest.MetricSum(t, b.reg, forwarded), "the new leader sent the old events again")

	streams, err := loki.QueryRange(context.Background(), query, base.Add(-time.Minute), time.Now().Add(time.Minute), 1000)
	require.NoError(t, err)
	counts := map[string]int{}
	for _, st := range streams {
		require.Equal(t, map[string]string{"job": DefaultJobName, "namespace": ns, "instance": "loki.source.kubernetes_events/cluster"}, st.Labels)
		for _, e := range st.Entries {
			counts[e.Line]++
		}
	}
	require.Len(t, counts, n+1, "every event is in Loki")
	for line, c := range counts {
		require.Equal(t, 1, c, "%s is in Loki %d times", line, c)
	}
}
