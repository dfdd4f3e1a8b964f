package nodetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/sondehq/sonde/exporters/backendtest"
)

// KubeStateMetricsVersion is the kube-state-metrics that `make deps` builds into the cache.
const KubeStateMetricsVersion = "v2.20.0"

// SondeBinary builds cmd/sonde once per node directory (cgo on, as the Dockerfile's build
// stage does) and returns its path.
func (n *Node) SondeBinary() string {
	bin := filepath.Join(n.Dir, "bin", "sonde")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=nodetest", "-o", bin, "./cmd/sonde")
	cmd.Dir = filepath.Dir(backendtest.RepoFile(n.t, "go.mod"))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		n.t.Fatalf("go build ./cmd/sonde: %v\n%s", err, out)
	}
	return bin
}

// BuildImages builds every image the real-node test runs and imports it into the node's
// containerd: sonde's (the Dockerfile's runtime stage on the local Debian base), the demo
// programs and kube-state-metrics on scratch. It returns the image names by program.
func BuildImages(t testing.TB, n *Node) map[string]string {
	t.Helper()
	start := time.Now()
	images := map[string]string{}
	if out, err := n.script("image.sh", "sonde", n.SondeBinary()); err != nil {
		t.Fatalf("sonde image: %v\n%s", err, tailString(out, 6000))
	}
	images["sonde"] = "sonde.test/sonde:dev"

	bins, err := BuildApps(filepath.Join(n.Dir, "bin", "apps"))
	if err != nil {
		t.Fatalf("build the demo programs: %v", err)
	}
	bins["kube-state-metrics"] = backendtest.Binary(t, "kube-state-metrics", "SONDE_KSM_BIN",
		"kube-state-metrics", KubeStateMetricsVersion, "make deps")
	names := make([]string, 0, len(bins))
	for name := range bins {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if name == "pause" {
			continue // up.sh imported it: containerd's sandbox image
		}
		if out, err := n.script("image.sh", "scratch", name, bins[name]); err != nil {
			t.Fatalf("%s image: %v\n%s", name, err, tailString(out, 4000))
		}
		images[name] = "sonde.test/" + name + ":dev"
	}
	t.Logf("images built and imported in %s", time.Since(start).Round(time.Second))
	return images
}
