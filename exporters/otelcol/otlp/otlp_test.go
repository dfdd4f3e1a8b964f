package otlp

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"google.golang.org/grpc/codes"

	"github.com/sondehq/sonde/exporters/otelcol/internal/base"
	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

func run(t *testing.T, endpoint string, edit func(*Arguments)) (*base.Component, *prometheus.Registry) {
	t.Helper()
	a := DefaultArguments()
	a.Client.Endpoint = endpoint
	a.Client.TLS.Insecure = true
	a.SendingQueue.Enabled = false
	a.RetryOnFailure.InitialInterval = model.Duration(10 * time.Millisecond)
	a.RetryOnFailure.MaxInterval = model.Duration(50 * time.Millisecond)
	a.RetryOnFailure.MaxElapsedTime = model.Duration(time.Minute)
	if edit != nil {
		edit(a)
	}
	opts := pipelinetest.Options(t, "otelcol.exporter.otlp/test", pipelinetest.NewHost())
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	c, err := New(opts, a)
	require.NoError(t, err)
	oteltest.StartExporter(t, c)
	return c, reg
}

// TestRetryMatrix: UNAVAILABLE (and the other retryable codes) are retried, waiting the
// RetryInfo delay when there is one; RESOURCE_EXHAUSTED is retried only with RetryInfo
// (the OTLP rule); other codes drop the data and count it.
func TestRetryMatrix(t *testing.T) {
	cases := []struct {
		fault   oteltest.Fault
		retried bool
		minGap  time.Duration
	}{
		{fault: oteltest.Fault{Code: codes.Unavailable, RetryDelay: time.Second}, retried: true, minGap: time.Second},
		{fault: oteltest.Fault{Code: codes.ResourceExhausted, RetryDelay: time.Second}, retried: true, minGap: time.Second},
		{fault: oteltest.Fault{Code: codes.Unavailable}, retried: true},
		{fault: oteltest.Fault{Code: codes.DeadlineExceeded}, retried: true},
		{fault: oteltest.Fault{Code: codes.Aborted}, retried: true},
		{fault: oteltest.Fault{Code: codes.ResourceExhausted}},
		{fault: oteltest.Fault{Code: codes.InvalidArgument}},
		{fault: oteltest.Fault{Code: codes.Unauthenticated}},
		{fault: oteltest.Fault{Code: codes.PermissionDenied}},
		{fault: oteltest.Fault{Code: codes.NotFound}},
		{fault: oteltest.Fault{Code: codes.Unimplemented}},
		{fault: oteltest.Fault{Code: codes.Internal}},
	}
	srv := oteltest.NewGRPCServer(t)
	c, reg := run(t, srv.Endpoint(), nil)
	for _, tc := range cases {
		name := tc.fault.Code.String()
		if tc.fault.RetryDelay > 0 {
			name += " with RetryInfo"
		}
		t.Run(name, func(t *testing.T) {
			srv.Reset()
			srv.Script(tc.fault, tc.fault)
			drop := []string{"signal", "traces", "reason", "rejected"}
			dropBefore := pipelinetest.MetricValue(t, reg, "sonde_otelcol_exporter_dropped_total", drop...)
			err := c.Traces().ConsumeTraces(context.Background(), oteltest.Traces(1, 3, nil))
			reqs := srv.Requests()
			if tc.retried {
				require.NoError(t, err)
				require.Len(t, reqs, 3)
				require.Equal(t, 3, srv.Spans())
				for i := 1; i < len(reqs); i++ {
					require.GreaterOrEqual(t, reqs[i].Time.Sub(reqs[i-1].Time), tc.minGap)
				}
				return
			}
			require.True(t, consumererror.IsPermanent(err), "%v", err)
			require.Len(t, reqs, 1)
			require.Equal(t, dropBefore+3, pipelinetest.MetricValue(t, reg, "sonde_otelcol_exporter_dropped_total", drop...))
			require.Positive(t, pipelinetest.MetricValue(t, reg, "sonde_otelcol_exporter_requests_total",
				"transport", "grpc", "code", strings.ToLower(tc.fault.Code.String())))
		})
	}
}

func TestValidate(t *testing.T) {
	a := DefaultArguments()
	require.ErrorContains(t, a.Validate(), "client.endpoint: required")
	a.Client.Endpoint = "http://tempo:4317/v1/traces"
	require.ErrorContains(t, a.Validate(), "not a URL with a path")
	a.Client.Endpoint = "tempo:4317"
	a.Client.Compression = "brotli"
	a.Client.Headers = base.Headers{"Content-Type": "x"}
	a.SendingQueue.Sizer = "spans"
	err := a.Validate()
	require.ErrorContains(t, err, "client.compression")
	require.ErrorContains(t, err, "client.headers.Content-Type")
	require.ErrorContains(t, err, "sending_queue.sizer")
}

func TestLifecycle(t *testing.T) {
	srv := oteltest.NewGRPCServer(t)
	a := DefaultArguments()
	a.Client.Endpoint = srv.Endpoint()
	a.Client.TLS.Insecure = true
	pipelinetest.Lifecycle(t, Registration, a, nil)
}

var _ pipeline.Component = (*base.Component)(nil)
