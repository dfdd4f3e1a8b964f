package config

import (
	"bytes"
	"embed"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"
)

//go:embed presets/*.yaml
var presetFS embed.FS

// PresetData fills a preset's blanks.
type PresetData struct {
	Name          string // the preset's name, filled in by RenderPreset
	PrometheusURL string // remote-write URL; empty: serve collected samples locally
	LokiURL       string // Loki push URL; empty: print log lines to stdout (loki.echo)
	LogDir        string // kubelet's pod log directory
	ProcPath      string
	// PodResourcesSocket is the kubelet pod-resources socket used to attribute GPUs to pods;
	// empty outside Kubernetes.
	PodResourcesSocket string
	SysPath            string
	RootPath           string
}

// presets maps each preset to its template and the host paths it reads. "daemonset" reads
// the node's filesystems where the DaemonSet mounts them (/host/proc, /host/sys, /host/root).
var presets = map[string]struct {
	file                      string
	procPath, sysPath, rootFS string
	podResources              string
}{
	"host":      {"host.yaml", "/proc", "/sys", "/", ""},
	"daemonset": {"host.yaml", "/host/proc", "/host/sys", "/host/root", "/var/lib/kubelet/pod-resources/kubelet.sock"},
}

// PresetNames lists the built-in presets.
func PresetNames() []string {
	out := make([]string, 0, len(presets))
	for name := range presets {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// RenderPreset returns the YAML of preset name filled with data.
func RenderPreset(name string, data PresetData) ([]byte, error) {
	p, ok := presets[name]
	if !ok {
		return nil, fmt.Errorf("unknown preset %q (available: %s)", name, strings.Join(PresetNames(), ", "))
	}
	src, err := presetFS.ReadFile("presets/" + p.file)
	if err != nil {
		return nil, err
	}
	if data.ProcPath == "" {
		data.ProcPath, data.SysPath, data.RootPath = p.procPath, p.sysPath, p.rootFS
		data.PodResourcesSocket = p.podResources
	}
	if data.LogDir == "" {
		data.LogDir = "/var/log/pods"
	}
	data.Name = name
	tmpl, err := template.New(name).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("preset %s: %w", name, err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("preset %s: %w", name, err)
	}
	return b.Bytes(), nil
}

// RemoteWriteURL turns what a user passes as --prometheus-url into a remote-write URL:
// a bare server address (http://prometheus:9090) gets Prometheus' /api/v1/write path; a URL
// with a path is used as it is (Mimir's /api/v1/push, say).
func RemoteWriteURL(s string) (string, error) {
	return backendURL("prometheus", s, "/api/v1/write", "http://prometheus:9090")
}

// LokiPushURL does the same for --loki-url: a bare address gets /loki/api/v1/push.
func LokiPushURL(s string) (string, error) {
	return backendURL("loki", s, "/loki/api/v1/push", "http://loki:3100")
}

func backendURL(what, s, defaultPath, example string) (string, error) {
	if s == "" {
		return "", nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%s URL %q: want an absolute http(s) URL such as %s", what, s, example)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = defaultPath
	}
	return u.String(), nil
}

// DetectPreset chooses a preset from the environment and says why: inside a Kubernetes pod
// (a service-account token and KUBERNETES_SERVICE_HOST) it is "daemonset", otherwise "host".
func DetectPreset(lookup func(string) (string, bool)) (name, reason string) {
	const tokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
	if h, ok := lookup("KUBERNETES_SERVICE_HOST"); ok && h != "" {
		if _, err := os.Stat(tokenFile); err == nil {
			return "daemonset", "running in a Kubernetes pod (service-account token found)"
		}
	}
	if _, err := os.Stat(filepath.Join("/host", "proc", "stat")); err == nil {
		return "host", "no Kubernetes service account; host filesystem mounted at /host"
	}
	return "host", "no Kubernetes service account found"
}
