package nodetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// eventsJob is the job of the Kubernetes events the chart's agents forward (the presets'
// loki.source.kubernetes_events, elected by a Lease).
const eventsJob = "loki.source.kubernetes_events"

// waitEvents waits until Loki holds, for each of pods (in namespace), an event line with
// reason (e.g. Scheduled), labelled as the presets label them, and returns how long it took.
func (b *bed) waitEvents(t *testing.T, namespace, reason string, pods []string) time.Duration {
	t.Helper()
	start := time.Now()
	query := fmt.Sprintf(`{job=%q, namespace=%q} |= "kind=Pod" |= "reason=%s"`, eventsJob, namespace, reason)
	Eventually(t, 2*time.Minute, 3*time.Second, reason+" events of "+strings.Join(pods, ", "), func(ctx context.Context) error {
		streams, err := b.queryLogs(ctx, query, b.start, time.Now().Add(time.Minute))
		if err != nil {
			return err
		}
		found := map[string]int{}
		for _, s := range streams {
			if s.Labels["instance"] == "" {
				return fmt.Errorf("event stream without instance: %v", s.Labels)
			}
			for _, e := range s.Entries {
				for _, p := range pods {
					if strings.HasPrefix(e.Line, "name="+p+" ") { // the involved object's name
						found[p]++
					}
				}
			}
		}
		var missing []string
		for _, p := range pods {
			if found[p] == 0 {
				missing = append(missing, p)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("no %s event line for %v in Loki", reason, missing)
		}
		return nil
	})
	return time.Since(start)
}
