package echo

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

func TestEcho(t *testing.T) {
	var out bytes.Buffer
	c, err := newWriting(pipelinetest.Options(t, "loki.echo/t", pipelinetest.NewHost()), &out)
	require.NoError(t, err)
	var acked []error
	ts := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	b := pipeline.NewLogBatch([]pipeline.LogEntry{
		{Labels: model.LabelSet{"job": "a/b"}, Timestamp: ts, Line: `he said "<hi>"`, StructuredMetadata: labels.FromStrings("uid", "u1")},
		{Labels: model.LabelSet{"job": "a/b"}, Timestamp: ts, Line: "second"},
	}, func(err error) { acked = append(acked, err) })
	require.NoError(t, c.ConsumeLogs(context.Background(), b))
	require.Equal(t, []error{nil}, acked)
	require.Equal(t, `{"ts":"2026-01-02T03:04:05.000000006Z","labels":{"job":"a/b"},"line":"he said \"<hi>\"","structured_metadata":{"uid":"u1"}}
{"ts":"2026-01-02T03:04:05.000000006Z","labels":{"job":"a/b"},"line":"second"}
`, out.String())
}

func TestValidate(t *testing.T) {
	require.NoError(t, (&Arguments{Output: "stderr"}).Validate())
	require.ErrorContains(t, (&Arguments{Output: "file"}).Validate(), "output: want stdout or stderr")
}

func TestLifecycle(t *testing.T) {
	pipelinetest.Lifecycle(t, Registration, &Arguments{Output: "stdout"}, &Arguments{Output: "stderr"})
}
