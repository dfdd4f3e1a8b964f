package remotewrite

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sondehq/sonde/exporters/prometheus/remotewrite/remotewritetest"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

func TestLifecycle(t *testing.T) {
	args := testArgs(t, "http://127.0.0.1:1/api/v1/write")
	updated := testArgs(t, "http://127.0.0.1:2/api/v1/write")
	updated.Endpoint.Queue.Shards = 2
	pipelinetest.Lifecycle(t, Registration, args, updated)
}

func TestNoGoroutineOutlivesSending(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	r := remotewritetest.NewReceiver(t)
	in := start(t, t.TempDir(), testArgs(t, r.URL), nil)
	in.appendSamples(t, 10, 2, 1000)
	waitSamples(t, r, 20)
	require.NoError(t, in.c.Update(testArgs(t, r.URL+"?v=2")))
	in.appendSamples(t, 10, 2, 3000)
	waitSamples(t, r, 40)
	in.stop(t)
	r.Close()
	goleak.VerifyNone(t, ignore)
}
