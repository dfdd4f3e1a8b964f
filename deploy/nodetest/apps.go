package nodetest

import (
	"bytes"
	"embed"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// BuildApps builds every program under deploy/nodetest/apps (each folder a package main:
// demo, longlines, burst, pause) static (CGO_ENABLED=0, stripped) into dir, in one go build
// that shares the compile, and returns each program's path by its folder name.
func BuildApps(dir string) (map[string]string, error) {
	src, err := appsDir()
	if err != nil {
		return nil, err
	}
	list := exec.Command("go", "list", "-f", `{{if eq .Name "main"}}{{.ImportPath}}{{end}}`, "./...")
	list.Dir = src
	out, err := list.Output()
	if err != nil {
		return nil, fmt.Errorf("go list the apps: %w%s", err, stderrOf(err))
	}
	pkgs := strings.Fields(string(out))
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("no package main under %s", src)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	build := exec.Command("go", append([]string{"build", "-trimpath", "-ldflags=-s -w", "-o", dir + string(filepath.Separator)}, pkgs...)...)
	build.Dir = src
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build the apps: %w\n%s", err, out)
	}
	bins := make(map[string]string, len(pkgs))
	for _, p := range pkgs {
		name := path.Base(p)
		bin := filepath.Join(dir, name)
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("go build left no %s: %w", name, err)
		}
		bins[name] = bin
	}
	return bins, nil
}

// appsDir is deploy/nodetest/apps in the source tree: next to this file, or (in a binary
// built with -trimpath) under the working directory, which `go test` makes this package's.
func appsDir() (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		if d := filepath.Join(filepath.Dir(file), "apps"); isDir(d) {
			return d, nil
		}
	}
	if d, err := filepath.Abs("apps"); err == nil && isDir(d) {
		return d, nil
	}
	return "", fmt.Errorf("deploy/nodetest/apps not found (run from the package directory)")
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
		return "\n" + string(ee.Stderr)
	}
	return ""
}

//go:embed testdata/workload/*.yaml
var workloadFS embed.FS

// WorkloadFiles are the manifests of the long-lived demo workload, in the order to apply
// them: the namespace first, kube-state-metrics (namespace kube-system), then the pods of
// namespace shop.
var WorkloadFiles = []string{"namespace.yaml", "kube-state-metrics.yaml", "demo.yaml", "longlines.yaml", "static-target.yaml"}

// WorkloadParams are the knobs of the workload manifests; zero values take the defaults
// that DefaultWorkloadParams documents.
type WorkloadParams struct {
	// RunID is on every line the programs write (run=…) and in the pods' sonde.test/run label.
	RunID string
	// Tag is the image tag: images are sonde.test/NAME:Tag, imported, never pulled ("dev").
	Tag string
	// Rate is demo's lines per second, both streams together (200: with its 1 KiB lines, a
	// 1 MiB log file rotates about every 5 s).
	Rate float64
	// LongRate is longlines' lines per second (5: about 150 KiB/s).
	LongRate float64
	// StaticPort is the static target's port on the node IP (19100).
	StaticPort int
	// BurstName names the burst Pod (burst-pod.yaml).
	BurstName string
	// BurstLines is the number of lines a burst pod writes (300).
	BurstLines int
}

// runID identifies this test process's lines.
var runID = "rn" + strconv.FormatInt(time.Now().Unix(), 36)

// DefaultStaticPort is where the static target listens on the node IP.
const DefaultStaticPort = 19100

func (p WorkloadParams) withDefaults() WorkloadParams {
	if p.RunID == "" {
		p.RunID = runID
	}
	if p.Tag == "" {
		p.Tag = "dev"
	}
	if p.Rate == 0 {
		p.Rate = 200
	}
	if p.LongRate == 0 {
		p.LongRate = 5
	}
	if p.StaticPort == 0 {
		p.StaticPort = DefaultStaticPort
	}
	if p.BurstName == "" {
		p.BurstName = "burst"
	}
	if p.BurstLines == 0 {
		p.BurstLines = 300
	}
	return p
}

var (
	labelValueRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$`)
	dnsNameRE    = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

func (p WorkloadParams) validate() error {
	switch {
	case !labelValueRE.MatchString(p.RunID):
		return fmt.Errorf("RunID %q: not a label value", p.RunID)
	case !labelValueRE.MatchString(p.Tag):
		return fmt.Errorf("Tag %q: not an image tag", p.Tag)
	case !dnsNameRE.MatchString(p.BurstName):
		return fmt.Errorf("BurstName %q: not a DNS label", p.BurstName)
	case p.Rate < 0 || p.LongRate < 0:
		return fmt.Errorf("Rate %v, LongRate %v: must not be negative", p.Rate, p.LongRate)
	case p.StaticPort < 1 || p.StaticPort > 65535:
		return fmt.Errorf("StaticPort %d: not a port", p.StaticPort)
	}
	return nil
}

var workloadTemplates = template.Must(template.New("").Option("missingkey=error").Funcs(template.FuncMap{
	// quote makes any value a YAML (JSON) string.
	"quote": func(v any) string { return strconv.Quote(fmt.Sprint(v)) },
	"image": func(name string, p WorkloadParams) string { return "sonde.test/" + name + ":" + p.Tag },
}).ParseFS(workloadFS, "testdata/workload/*.yaml"))

// RenderManifest renders one file of testdata/workload (e.g. "demo.yaml", "burst-pod.yaml").
func RenderManifest(file string, p WorkloadParams) ([]byte, error) {
	p = p.withDefaults()
	if err := p.validate(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := workloadTemplates.ExecuteTemplate(&b, file, p); err != nil {
		return nil, fmt.Errorf("render %s: %w", file, err)
	}
	return b.Bytes(), nil
}

// RenderWorkload renders WorkloadFiles as one multi-document YAML.
func RenderWorkload(p WorkloadParams) ([]byte, error) {
	var all bytes.Buffer
	for _, f := range WorkloadFiles {
		b, err := RenderManifest(f, p)
		if err != nil {
			return nil, err
		}
		all.WriteString("---\n")
		all.Write(b)
	}
	return all.Bytes(), nil
}

// Workload is the demo workload of a real-node run with the default parameters, ready for
// Node.Apply.
func Workload(t testing.TB, _ *Node) []byte {
	t.Helper()
	b, err := RenderWorkload(WorkloadParams{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// BurstPod is one short-lived pod in namespace shop: container "burst" writes lines
// numbered lines and its totals, then exits 0.
func BurstPod(name string, lines int) *corev1.Pod {
	b, err := RenderManifest("burst-pod.yaml", WorkloadParams{BurstName: name, BurstLines: lines})
	if err != nil {
		panic(err) // a bad name is a bug in the test that calls this
	}
	var pod corev1.Pod
	if err := yaml.UnmarshalStrict(b, &pod); err != nil {
		panic(fmt.Sprintf("burst-pod.yaml: %v", err))
	}
	return &pod
}

// StaticTarget is the static target's address (node IP and DefaultStaticPort): the value
// for the chart's staticTargets.
func StaticTarget(n *Node) string {
	return net.JoinHostPort(n.IP, strconv.Itoa(DefaultStaticPort))
}
