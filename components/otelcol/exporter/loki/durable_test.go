package loki

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/sondehq/sonde/components/otelcol/processor/batch"
	"github.com/sondehq/sonde/components/otelcol/receiver/otlp"
	"github.com/sondehq/sonde/exporters/backendtest"
	"github.com/sondehq/sonde/exporters/loki/write"
	"github.com/sondehq/sonde/exporters/loki/write/lokitest"
	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
	"github.com/sondehq/sonde/pipeline"
)

// requestLogs is one OTLP request of n records, lines "req-<id> line <k>".
func requestLogs(id, n int, at time.Time) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "durable")
	sl := rl.ScopeLogs().AppendEmpty()
	for k := range n {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(at.Add(time.Duration(k) * time.Microsecond)))
		lr.Body().SetStr(fmt.Sprintf("req-%d line %d", id, k))
	}
	return ld
}

// TestOKMeansInLoki runs receiver → otelcol.processor.batch (wait_for_result, as the
// presets set it) → otelcol.exporter.loki → loki.write against a real Loki, under the
// controller. Every request answered OK has its lines queryable in Loki at the moment of
// the answer; while Loki is down no request is answered OK (the sender is asked to retry,
// UNAVAILABLE, after ack_timeout); after Loki is back the requests answered OK are all there,
// each line once.
func TestOKMeansInLoki(t *testing.T) {
	lk := lokitest.Start(t)
	grpcAddr := backendtest.FreeAddr(t)
	yml := fmt.Sprintf(`
components:
  otelcol.receiver.otlp/in:
    grpc: {endpoint: %q}
    output: {logs: [otelcol.processor.batch/default]}
  otelcol.processor.batch/default:
    wait_for_result: true
    output: {logs: [otelcol.exporter.loki/default]}
  otelcol.exporter.loki/default:
    forward_to: [loki.write/default]
    ack_timeout: 2s
  loki.write/default:
    endpoints:
      - url: %s
        batch_wait: 50ms
        min_backoff: 100ms
        max_backoff: 500ms
`, grpcAddr, lk.PushURL())
	reg, err := pipeline.NewRegistry(otlp.Registration, batch.Registration, Registration, write.Registration)
	require.NoError(t, err)
	oteltest.StartGraph(t, reg, yml, oteltest.GraphOptions{})
	backendtest.WaitListening(t, grpcAddr)
	conn := oteltest.Dial(t, grpcAddr)
	client := plogotlp.NewGRPCClient(conn)

	began := time.Now()
	export := func(id int) error {
		rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer rcancel()
		_, err := client.Export(rctx, plogotlp.NewExportRequestFromLogs(requestLogs(id, 5, time.Now())))
		return err
	}
	inLoki := func(id int) int {
		streams, err := lk.QueryRange(context.Background(), fmt.Sprintf(`{service_name="durable"} |= "req-%d line"`, id),
			began.Add(-time.Minute), time.Now().Add(time.Minute), 100)
		require.NoError(t, err)
		n := 0
		for _, s := range streams {
			n += len(s.Entries)
		}
		return n
	}
	// The first request may find components still starting: retry as a client would.
	require.Eventually(t, func() bool { return export(0) == nil }, 30*time.Second, 50*time.Millisecond)
	accepted, queryable := 1, 0
	if inLoki(0) == 5 {
		queryable++
	}
	for id := 1; id < 20; id++ {
		require.NoError(t, export(id))
		accepted++
		if inLoki(id) == 5 {
			queryable++
		}
	}
	t.Logf("Loki up: %d requests answered OK, %d with all their lines queryable at the answer", accepted, queryable)
	require.Equal(t, accepted, queryable, "an OK means the lines are in Loki")

	lk.Stop()
	okWhileDown := 0
	for id := 100; id < 103; id++ {
		if err := export(id); err == nil {
			okWhileDown++
		} else {
			t.Logf("Loki down: request %d answered %v", id, err)
		}
	}
	require.Zero(t, okWhileDown, "nothing is answered OK while Loki is down")

	lk.Restart()
	all := lk.WaitEntries(t, `{service_name="durable"}`, began.Add(-time.Minute), time.Now().Add(time.Minute), 5*accepted, time.Minute)
	seen := map[string]int{}
	for _, s := range all {
		for _, e := range s.Entries {
			seen[e.Line]++
		}
	}
	lost := 0
	for id := range accepted {
		for k := range 5 {
			if seen[fmt.Sprintf("req-%d line %d", id, k)] != 1 {
				lost++
			}
		}
	}
	t.Logf("after Loki came back: %d lines in Loki (%d from requests answered OK, %d of those missing or doubled)", len(seen), 5*accepted, lost)
	require.Zero(t, lost)
}
