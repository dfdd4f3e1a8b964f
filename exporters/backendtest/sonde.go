package backendtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var sondeBuild struct {
	once sync.Once
	path string
	err  error
}

// SondeBinary builds ./cmd/sonde once per test binary, into a temporary directory, and
// returns its path.
func SondeBinary(t testing.TB) string {
	t.Helper()
	sondeBuild.once.Do(func() { sondeBuild.path, sondeBuild.err = buildSonde() })
	if sondeBuild.err != nil {
		t.Fatal(sondeBuild.err)
	}
	return sondeBuild.path
}

func buildSonde() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "sonde-test-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "sonde")
	// The toolchain that built this test binary, where it is known; else the go on PATH.
	goCmd := "go"
	if root := runtime.GOROOT(); root != "" {
		if _, err := os.Stat(filepath.Join(root, "bin", "go")); err == nil {
			goCmd = filepath.Join(root, "bin", "go")
		}
	}
	cmd := exec.Command(goCmd, "build", "-o", bin, "./cmd/sonde")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/sonde: %w\n%s", err, out)
	}
	return bin, nil
}

// RemoveSondeBinary removes what SondeBinary built, if anything; call it from TestMain after
// the tests ran.
func RemoveSondeBinary() {
	if sondeBuild.path != "" {
		_ = os.RemoveAll(filepath.Dir(sondeBuild.path))
	}
}
