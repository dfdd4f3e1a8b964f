package nodetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// agentKills is how many times the lifecycle test kills the agent pod with no grace period.
const agentKills = 3

// dupPerKill bounds the duplicates one agent kill may cause per container: the lines of the
// batches in flight (loki.write sends at most 1 MiB or 1 s of lines a batch; the demo writes a
// few hundred lines a second), resent after the restart. Loki itself drops an exact
// duplicate of an entry it already holds in the same stream, so most resends vanish there.
const dupPerKill = 2000

// testLifecycle: under load, a rolling upgrade with a config change, kills of the agent pod,
// a kubelet restart, short-lived pods and a drain lose nothing that was written and
// duplicate at most a batch per kill.
func (b *bed) testLifecycle(t *testing.T) {
	ctx := context.Background()
	b.reportUsage(t)
	tracked := b.demoPods(t)

	t.Run("RollingUpgrade", func(t *testing.T) {
		b.upgrade(t, map[string]any{"config": map[string]any{"overrides": map[string]any{
			"prometheus.scrape/pods": map[string]any{"scrape_interval": "10s"},
		}}})
	})

	t.Run("AgentKilled", func(t *testing.T) {
		for i := 0; i < agentKills; i++ {
			pods, err := b.node.ReadyPods(ctx, "monitoring", "app.kubernetes.io/name=sonde", 1)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.node.KillPod(ctx, "monitoring", pods[0].Name); err != nil {
				t.Fatal(err)
			}
			t.Logf("killed %s (grace period 0)", pods[0].Name)
			time.Sleep(2 * time.Second)
			b.waitAgentReady(t)
			time.Sleep(5 * time.Second)
		}
	})

	t.Run("KubeletRestarted", func(t *testing.T) {
		if out, err := b.node.script("restart.sh", "kubelet"); err != nil {
			t.Fatalf("restart kubelet: %v\n%s", err, out)
		}
		Eventually(t, 2*time.Minute, 2*time.Second, "node Ready after the kubelet restart", b.nodeReady)
		b.waitAgentReady(t)
	})

	t.Run("ShortLivedPods", func(t *testing.T) {
		const pods, lines = 24, 300
		names := make([]string, pods)
		for i := range names {
			names[i] = fmt.Sprintf("burst-%02d", i)
			if _, err := b.node.Client.CoreV1().Pods("shop").Create(ctx, BurstPod(names[i], lines), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		Eventually(t, 3*time.Minute, 2*time.Second, "burst pods completed", func(ctx context.Context) error {
			var pending []string
			for _, name := range names {
				p, err := b.node.Client.CoreV1().Pods("shop").Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return err
				}
				if p.Status.Phase != corev1.PodSucceeded {
					pending = append(pending, name+"="+string(p.Status.Phase))
				}
			}
			if len(pending) > 0 {
				return fmt.Errorf("not succeeded: %s", strings.Join(pending, " "))
			}
			return nil
		})
		for _, name := range names {
			p, err := b.node.Client.CoreV1().Pods("shop").Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			b.waitLogs(t, p, "burst", 0, true)
		}
		// Their events too, forwarded by the agent that took the events Lease over after the
		// kills (the killed ones never gave it back: it expired).
		took := b.waitEvents(t, "shop", "Scheduled", names)
		t.Logf("Scheduled events of the %d short-lived pods in Loki %s after their logs", pods, took.Round(time.Second))
		for _, name := range names {
			_ = b.node.Client.CoreV1().Pods("shop").Delete(ctx, name, metav1.DeleteOptions{})
		}
	})

	t.Run("CordonDrain", func(t *testing.T) {
		if err := b.node.Cordon(ctx, true); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := b.node.Cordon(ctx, false); err != nil {
				t.Error(err)
			}
		}()
		if err := b.node.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		// Every evicted demo pod wrote its totals on SIGTERM: all of its lines, exactly.
		for _, p := range tracked {
			Eventually(t, 2*time.Minute, time.Second, "evicted "+p.Name+" gone", func(ctx context.Context) error {
				_, err := b.node.Client.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
				if err == nil {
					return fmt.Errorf("still there")
				}
				return nil
			})
		}
	})

	// What every demo pod that lived through all of the above wrote is in Loki, every line
	// of it. (A kill with no grace period during the demo's rotations once lost 178 lines,
	// one contiguous run: most likely the end of the file the agent was reading, which the
	// kubelet rotated and compressed while the agent was down. loki.source.file now reads
	// that rest from the .gz — see docs/logs.md, Identity and rotation.)
	for i := range tracked {
		p := &tracked[i]
		for _, c := range p.Spec.Containers {
			r := b.waitLogs(t, p, c.Name, agentKills*dupPerKill, true)
			t.Logf("lifecycle %s/%s: written %v, lost %d, duplicated %d", p.Name, c.Name, r.Written, r.Missing, r.Duplicated)
		}
	}
	if err := b.node.Cordon(ctx, false); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 3*time.Minute, 2*time.Second, "demo pods back after uncordon", func(ctx context.Context) error {
		_, err := b.node.ReadyPods(ctx, "shop", "app=demo", 1)
		return err
	})
}

// demoPods returns the running demo and longlines pods.
func (b *bed) demoPods(t *testing.T) []corev1.Pod {
	t.Helper()
	pods, err := b.node.Client.CoreV1().Pods("shop").List(context.Background(), metav1.ListOptions{LabelSelector: "app in (demo, longlines)"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) == 0 {
		t.Fatal("no demo pods")
	}
	return pods.Items
}

func (b *bed) waitAgentReady(t *testing.T) {
	t.Helper()
	Eventually(t, 3*time.Minute, time.Second, "sonde agent ready", func(ctx context.Context) error {
		if _, err := b.node.ReadyPods(ctx, "monitoring", "app.kubernetes.io/name=sonde", 1); err != nil {
			return err
		}
		_, err := agentComponents(ctx, b.agentURL())
		return err
	})
}

func (b *bed) nodeReady(ctx context.Context) error {
	n, err := b.node.Client.CoreV1().Nodes().Get(ctx, b.node.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
			return nil
		}
	}
	return fmt.Errorf("node %s not Ready", b.node.Name)
}
