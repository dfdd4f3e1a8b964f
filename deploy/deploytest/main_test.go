package deploytest

import (
	"os"
	"testing"

	"github.com/sondehq/sonde/discovery/kubetest"
	"github.com/sondehq/sonde/exporters/backendtest"
)

// TestMain stops the shared API server and removes the sonde binary built for the tests.
func TestMain(m *testing.M) {
	code := kubetest.Main(m)
	backendtest.RemoveSondeBinary()
	os.Exit(code)
}
