package remotewritetest

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

func post(t *testing.T, r *Receiver, body []byte, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.URL, bytes.NewReader(body))
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp
}

var goodHeaders = map[string]string{
	"Content-Encoding":                  "snappy",
	"Content-Type":                      "application/x-protobuf",
	"X-Prometheus-Remote-Write-Version": "0.1.0",
	"User-Agent":                        "test/1",
}

func request(t *testing.T, ts ...int64) []byte {
	wr := prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{Labels: []prompb.Label{{Name: "__name__", Value: "m"}}}}}
	for _, v := range ts {
		wr.Timeseries[0].Samples = append(wr.Timeseries[0].Samples, prompb.Sample{Timestamp: v, Value: 1})
	}
	b, err := wr.Marshal()
	require.NoError(t, err)
	return b
}

func TestReceiverChecksSpec(t *testing.T) {
	r := NewReceiver(t)
	require.Equal(t, http.StatusNoContent, post(t, r, snappy.Encode(nil, request(t, 1, 2)), goodHeaders).StatusCode)
	require.Empty(t, r.Problems())
	require.Equal(t, 2, r.SampleCount())

	// Framed snappy (the stream format) is not what remote write uses.
	var framed bytes.Buffer
	w := snappy.NewBufferedWriter(&framed)
	_, _ = w.Write(request(t, 3))
	require.NoError(t, w.Close())
	require.Equal(t, http.StatusBadRequest, post(t, r, framed.Bytes(), goodHeaders).StatusCode)
	require.Len(t, r.Problems(), 1)

	// Timestamps going back are flagged.
	require.Equal(t, http.StatusNoContent, post(t, r, snappy.Encode(nil, request(t, 1)), goodHeaders).StatusCode)
	require.Len(t, r.Problems(), 2)
	require.Equal(t, 3, r.SampleCount())
}

func TestReceiverScript(t *testing.T) {
	r := NewReceiver(t)
	r.Script(Response{Status: 429, RetryAfter: "2"})
	r.FailWith(Response{Status: 503})
	body := snappy.Encode(nil, request(t, 1))
	resp := post(t, r, body, goodHeaders)
	require.Equal(t, 429, resp.StatusCode)
	require.Equal(t, "2", resp.Header.Get("Retry-After"))
	require.Equal(t, 503, post(t, r, body, goodHeaders).StatusCode)
	r.Recover()
	require.Equal(t, 204, post(t, r, body, goodHeaders).StatusCode)
	require.Equal(t, 1, r.SampleCount())
	require.Len(t, r.Requests(), 3)
}

func TestReceiverCountOnly(t *testing.T) {
	r := NewReceiver(t)
	r.CountOnly()
	body := snappy.Encode(nil, request(t, 1, 2, 3))
	require.Equal(t, http.StatusNoContent, post(t, r, body, goodHeaders).StatusCode)
	require.Equal(t, http.StatusNoContent, post(t, r, body, goodHeaders).StatusCode)
	require.Equal(t, 6, r.SampleCount())
	require.Empty(t, r.Series(), "no sample kept")
	require.Empty(t, r.Problems())
}

func TestReceiverDistinct(t *testing.T) {
	r := NewReceiver(t)
	post(t, r, snappy.Encode(nil, request(t, 1, 2, 3)), goodHeaders)
	post(t, r, snappy.Encode(nil, request(t, 2, 3, 4)), goodHeaders)
	distinct, repeated := r.Distinct()
	require.Equal(t, 4, distinct)
	require.Equal(t, 2, repeated)
}
