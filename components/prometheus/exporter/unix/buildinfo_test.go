package unix

import (
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestNodeExporterVersion: node_exporter_build_info reports the node_exporter of go.mod.
func TestNodeExporterVersion(t *testing.T) {
	gomod, err := os.ReadFile("../../../../go.mod")
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^\s*github\.com/prometheus/node_exporter v(\S+)`).FindSubmatch(gomod)
	require.NotNil(t, m, "node_exporter in go.mod")
	require.Equal(t, string(m[1]), NodeExporterVersion, "update NodeExporterVersion with go.mod")
}
