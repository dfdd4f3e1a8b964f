package remotewrite_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/config"
	"github.com/sondehq/sonde/exporters/prometheus/remotewrite"
	"github.com/sondehq/sonde/pipeline"
)

// TestHTTPHeadersAccepted: Prometheus' http_headers (values, secrets, files per header) is
// part of the endpoint's HTTP client settings; a misspelt key inside it is still an error.
func TestHTTPHeadersAccepted(t *testing.T) {
	reg, err := pipeline.NewRegistry(remotewrite.Registration)
	require.NoError(t, err)
	y := `
components:
  prometheus.remote_write/default:
    endpoint:
      url: http://127.0.0.1:9090/api/v1/write
      http_headers:
        X-Scope-OrgID:
          values: [tenant-a]
        X-Api-Key:
          secrets: [s3cret]
`
	f, err := config.Parse("rw.yaml", []byte(y), reg, func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	h := f.Specs[0].Args.(*remotewrite.Arguments).Endpoint.HTTPClientConfig.HTTPHeaders
	require.NotNil(t, h)
	require.Equal(t, []string{"tenant-a"}, h.Headers["X-Scope-OrgID"].Values)
	require.Len(t, h.Headers["X-Api-Key"].Secrets, 1)

	_, err = config.Parse("rw.yaml", []byte(`
components:
  prometheus.remote_write/default:
    endpoint:
      url: http://127.0.0.1:9090/api/v1/write
      http_headers:
        X-Scope-OrgID:
          valuez: [tenant-a]
`), reg, func(string) (string, bool) { return "", false })
	require.ErrorContains(t, err, "rw.yaml:8: prometheus.remote_write/default: endpoint.http_headers.X-Scope-OrgID.valuez: unknown field (valid: files, secrets, values)")
}
