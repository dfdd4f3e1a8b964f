package deploytest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sondehq/sonde/discovery/kubetest"
)

// TestMain stops the shared API server and removes the sonde binary built for the tests.
func TestMain(m *testing.M) {
	code := kubetest.Main(m)
	if sondePath != "" {
		_ = os.RemoveAll(filepath.Dir(sondePath))
	}
	os.Exit(code)
}
