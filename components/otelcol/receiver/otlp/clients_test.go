package otlp

import (
	"google.golang.org/grpc"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
	"github.com/sondehq/sonde/internal/otelcol"
)

type collectorOutput = otelcol.Output

func pmetricotlpClient(c *grpc.ClientConn) pmetricotlp.GRPCClient {
	return pmetricotlp.NewGRPCClient(c)
}
func plogotlpClient(c *grpc.ClientConn) plogotlp.GRPCClient { return plogotlp.NewGRPCClient(c) }
func pmetricotlpRequest() pmetricotlp.ExportRequest {
	return pmetricotlp.NewExportRequestFromMetrics(oteltest.Metrics(nil))
}
func plogotlpRequest() plogotlp.ExportRequest {
	return plogotlp.NewExportRequestFromLogs(oteltest.Logs(3, nil))
}
