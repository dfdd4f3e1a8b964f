package kubernetes

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

func init() {
	// Fast reconnects, saves and health checks in tests.
	minBackoff, maxBackoff = 10*time.Millisecond, 50*time.Millisecond
	syncInterval, retryInterval = 50*time.Millisecond, 100*time.Millisecond
	batchWait = 10 * time.Millisecond
}

// base is the timestamp test lines are stamped from.
var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// at returns a line stamped base+ms milliseconds.
func at(ms int, text string) logLine {
	return logLine{ts: base.Add(time.Duration(ms) * time.Millisecond), text: text}
}

// runningComp is a component under test.
type runningComp struct {
	c    *Component
	host *pipelinetest.Host
	opts pipeline.Options
	stop func()
}

// argsFor returns arguments following every pod of the fake, forwarding to the fake host.
func argsFor(f *fakeAPI) *Arguments {
	a := DefaultArguments()
	a.ClientArgs = f.clientArgs()
	a.ForwardTo = []string{"loki.echo/test"}
	return a
}

// start runs a component with its own cache (pipelinetest.Options makes one); opts may be nil (fresh options) or the options
// of an earlier run (same data path: a restart).
func start(t *testing.T, args *Arguments, opts *pipeline.Options) *runningComp {
	t.Helper()
	require.NoError(t, args.Validate())
	host := pipelinetest.NewHost()
	o := pipelinetest.Options(t, "loki.source.kubernetes/test", host)
	if opts != nil {
		o.DataPath = opts.DataPath
	}
	c, err := New(o, args)
	require.NoError(t, err)
	c.flushTimeout = 2 * time.Second // a sink holding its acknowledgements does not hold every stop for 15 s
	stop := pipelinetest.Run(t, c)
	return &runningComp{c: c, host: host, opts: o, stop: stop}
}

// lines returns the received entries as "namespace/pod/container text".
func (r *runningComp) lines() []string {
	var out []string
	for _, e := range r.host.LogsSink.Entries() {
		out = append(out, fmt.Sprintf("%s/%s/%s %s", e.Labels[labelNamespace], e.Labels[labelPod], e.Labels[labelContainer], e.Line))
	}
	return out
}

// waitLines waits until exactly want was received, in order.
func (r *runningComp) waitLines(t *testing.T, want ...string) {
	t.Helper()
	require.Eventually(t, func() bool {
		got := r.lines()
		return len(got) >= len(want)
	}, 20*time.Second, 5*time.Millisecond, "want %q", want)
	require.Equal(t, want, r.lines())
}

// waitRequests waits for at least n pods/log requests.
func waitRequests(t *testing.T, f *fakeAPI, n int) []logRequest {
	t.Helper()
	require.Eventually(t, func() bool { return len(f.logRequests()) >= n }, 20*time.Second, 5*time.Millisecond)
	return f.logRequests()
}

func prefixed(prefix string, texts ...string) []string {
	out := make([]string, len(texts))
	for i, s := range texts {
		out[i] = prefix + " " + s
	}
	return out
}
