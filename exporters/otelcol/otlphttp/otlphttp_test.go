package otlphttp

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/sondehq/sonde/exporters/otelcol/internal/base"
	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// run starts the exporter against url with fast retries and no queue, so ConsumeTraces
// returns the final outcome.
func run(t *testing.T, url string, edit func(*Arguments)) (*base.Component, *prometheus.Registry) {
	t.Helper()
	a := DefaultArguments()
	a.Client.Endpoint = url
	a.SendingQueue.Enabled = false
	a.RetryOnFailure.InitialInterval = model.Duration(10 * time.Millisecond)
	a.RetryOnFailure.MaxInterval = model.Duration(50 * time.Millisecond)
	a.RetryOnFailure.MaxElapsedTime = model.Duration(time.Minute)
	if edit != nil {
		edit(a)
	}
	opts := pipelinetest.Options(t, "otelcol.exporter.otlphttp/test", pipelinetest.NewHost())
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	c, err := New(opts, a)
	require.NoError(t, err)
	oteltest.StartExporter(t, c)
	return c, reg
}

// TestRetryMatrix runs every answer class against a fault-injecting server: retryable
// answers are retried (Retry-After honoured) until the data is accepted; the others drop
// the data at once and count it.
func TestRetryMatrix(t *testing.T) {
	cases := []struct {
		name       string
		fault      oteltest.Fault
		retried    bool
		minGap     time.Duration // between the fault and the retry
		dropReason string
	}{
		{name: "429 with Retry-After", fault: oteltest.Fault{HTTPStatus: 429, RetryAfter: "1"}, retried: true, minGap: time.Second},
		{name: "503 with Retry-After", fault: oteltest.Fault{HTTPStatus: 503, RetryAfter: "1"}, retried: true, minGap: time.Second},
		{name: "502 with Retry-After", fault: oteltest.Fault{HTTPStatus: 502, RetryAfter: "1"}, retried: true, minGap: time.Second},
		{name: "504 with Retry-After", fault: oteltest.Fault{HTTPStatus: 504, RetryAfter: "1"}, retried: true, minGap: time.Second},
		{name: "429", fault: oteltest.Fault{HTTPStatus: 429}, retried: true},
		{name: "502", fault: oteltest.Fault{HTTPStatus: 502}, retried: true},
		{name: "503", fault: oteltest.Fault{HTTPStatus: 503}, retried: true},
		{name: "504", fault: oteltest.Fault{HTTPStatus: 504}, retried: true},
		{name: "400", fault: oteltest.Fault{HTTPStatus: 400}, dropReason: "rejected"},
		{name: "401", fault: oteltest.Fault{HTTPStatus: 401}, dropReason: "rejected"},
		{name: "404", fault: oteltest.Fault{HTTPStatus: 404}, dropReason: "rejected"},
		{name: "413", fault: oteltest.Fault{HTTPStatus: 413}, dropReason: "rejected"},
		{name: "500", fault: oteltest.Fault{HTTPStatus: 500}, dropReason: "rejected"},
	}
	srv := oteltest.NewHTTPServer(t)
	c, reg := run(t, srv.URL(), nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv.Reset()
			srv.Script(tc.fault, tc.fault) // twice: the first retry meets the same fault
			sentBefore := pipelinetest.MetricValue(t, reg, "sonde_otelcol_exporter_sent_total", "signal", "traces")
			dropBefore := pipelinetest.MetricValue(t, reg, "sonde_otelcol_exporter_dropped_total", "signal", "traces", "reason", "rejected")

			err := c.Traces().ConsumeTraces(context.Background(), oteltest.Traces(1, 3, nil))
			reqs := srv.Requests()
			if tc.retried {
				require.NoError(t, err)
				require.Len(t, reqs, 3, "two faults, then success")
				require.Equal(t, 3, srv.Spans())
				require.Equal(t, sentBefore+3, pipelinetest.MetricValue(t, reg, "sonde_otelcol_exporter_sent_total", "signal", "traces"))
				for i := 1; i < len(reqs); i++ {
					require.GreaterOrEqual(t, reqs[i].Time.Sub(reqs[i-1].Time), tc.minGap, "retry %d came too early", i)
				}
				return
			}
			require.Error(t, err)
			require.True(t, consumererror.IsPermanent(err), "%v", err)
			require.Len(t, reqs, 1, "not retried")
			require.Zero(t, srv.Spans())
			require.Equal(t, dropBefore+3, pipelinetest.MetricValue(t, reg, "sonde_otelcol_exporter_dropped_total", "signal", "traces", "reason", tc.dropReason))
			require.Equal(t, 1.0, pipelinetest.MetricValue(t, reg, "sonde_otelcol_exporter_requests_total", "transport", "http", "code", strconv.Itoa(tc.fault.HTTPStatus)))
		})
	}
}

// TestRetriesExhausted drops and counts data the backend keeps refusing past
// max_elapsed_time.
func TestRetriesExhausted(t *testing.T) {
	srv := oteltest.NewHTTPServer(t)
	c, reg := run(t, srv.URL(), func(a *Arguments) {
		a.RetryOnFailure.MaxElapsedTime = model.Duration(100 * time.Millisecond)
	})
	srv.Script(oteltest.Repeat(oteltest.Fault{HTTPStatus: 503}, 100)...)
	err := c.Traces().ConsumeTraces(context.Background(), oteltest.Traces(1, 2, nil))
	require.Error(t, err)
	require.Greater(t, len(srv.Requests()), 1)
	require.Equal(t, 2.0, pipelinetest.MetricValue(t, reg, "sonde_otelcol_exporter_dropped_total", "signal", "traces", "reason", "retries_exhausted"))
}

// TestQueueFull answers RESOURCE_EXHAUSTED with RetryInfo when the sending queue is full,
// which the OTLP receiver turns into 429 + Retry-After.
func TestQueueFull(t *testing.T) {
	srv := oteltest.NewHTTPServer(t)
	c, reg := run(t, srv.URL(), func(a *Arguments) {
		a.SendingQueue = base.Queue{Enabled: true, NumConsumers: 1, Sizer: "requests", QueueSize: 1}
		a.RetryOnFailure.InitialInterval = model.Duration(time.Hour) // the first request hangs in retry
		a.RetryOnFailure.MaxInterval = model.Duration(time.Hour)
	})
	srv.Script(oteltest.Repeat(oteltest.Fault{HTTPStatus: 503}, 10)...)
	ctx := context.Background()
	var refused error
	require.Eventually(t, func() bool {
		refused = c.Traces().ConsumeTraces(ctx, oteltest.Traces(1, 1, nil))
		return refused != nil
	}, 30*time.Second, time.Millisecond)
	require.Contains(t, refused.Error(), "sending queue is full")
	require.Equal(t, "ResourceExhausted", grpcCode(refused))
	require.Positive(t, pipelinetest.MetricValue(t, reg, "sonde_otelcol_exporter_refused_total", "signal", "traces"))
}

func TestValidate(t *testing.T) {
	a := DefaultArguments()
	require.ErrorContains(t, a.Validate(), "client.endpoint: required")
	a.TracesEndpoint = "http://tempo:4318/v1/traces"
	require.ErrorContains(t, a.Validate(), "client.endpoint: required unless")
	a.Client.Endpoint = "tempo:4318"
	a.Encoding = "xml"
	a.RetryOnFailure.Multiplier = 0.5
	err := a.Validate()
	require.ErrorContains(t, err, `client.endpoint: "tempo:4318" must be an absolute http or https URL`)
	require.ErrorContains(t, err, "encoding")
	require.ErrorContains(t, err, "retry_on_failure.multiplier")
}

func TestLifecycle(t *testing.T) {
	srv := oteltest.NewHTTPServer(t)
	a := DefaultArguments()
	a.Client.Endpoint = srv.URL()
	pipelinetest.Lifecycle(t, Registration, a, nil)
}
