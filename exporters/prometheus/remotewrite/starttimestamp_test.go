package remotewrite

import (
	"context"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/prometheus/remotewrite/remotewritetest"
)

// TestStartTimestamps: a start timestamp given (AppendSTZeroSample, as the scrape loop does
// with start_timestamps) just before a series' sample goes through the WAL with that sample
// and out as its 2.0 start_timestamp; no synthetic zero sample is sent; a sample without one
// carries none.
func TestStartTimestamps(t *testing.T) {
	r := remotewritetest.NewReceiver(t)
	args := testArgs(t, r.URL)
	args.Endpoint.ProtobufMessage = protobufV2
	in := start(t, t.TempDir(), args, nil)
	counter := labels.FromStrings("__name__", "requests_total", "job", "t")
	gauge := labels.FromStrings("__name__", "temperature", "job", "t")

	app := in.c.Appendable().Appender(context.Background())
	ref, err := app.AppendSTZeroSample(0, counter, 5000, 1000)
	require.NoError(t, err)
	_, err = app.Append(ref, counter, 5000, 7)
	require.NoError(t, err)
	_, err = app.Append(0, gauge, 5000, 21)
	require.NoError(t, err)
	_, err = app.AppendSTZeroSample(0, gauge, 6000, 9000) // after the sample: not a start
	require.NoError(t, err)
	_, err = app.Append(0, gauge, 6000, 22)
	require.NoError(t, err)
	require.NoError(t, app.Commit())

	waitSamples(t, r, 3)
	require.Equal(t, map[string]int64{counter.String(): 1000}, r.StartTimestamps())
	require.Equal(t, []remotewritetest.Sample{{T: 5000, V: 7}}, r.Series()[counter.String()], "no zero sample")
}
