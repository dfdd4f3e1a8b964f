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

	"k8s.io/client-go/tools/clientcmd"

	"github.com/sondehq/sonde/discovery/kubernetes/rules"
)

//go:embed presets/*.yaml
var presetFS embed.FS

// PresetData fills a preset's blanks.
type PresetData struct {
	Name          string // the preset's name, filled in by RenderPreset
	PrometheusURL string // remote-write URL; empty: serve collected samples locally
	LokiURL       string // Loki push URL; empty: print log lines to stdout (loki.echo)
	OTLPEndpoint  string // where received traces go (Tempo, Jaeger, a gateway); empty: traces are not accepted
	// OTLPProtocol is how they go there: OTLPGRPC (otelcol.exporter.otlp, the default when
	// empty) or OTLPHTTPProtobuf (otelcol.exporter.otlphttp, OTLPEndpoint a base URL).
	OTLPProtocol string
	LogDir       string // kubelet's pod log directory
	ProcPath     string
	// PodResourcesSocket is the kubelet pod-resources socket used to attribute GPUs to pods;
	// empty outside Kubernetes.
	PodResourcesSocket string
	SysPath            string
	RootPath           string
	// Kubeconfig is the kubeconfig file the cluster-local preset reaches the API server
	// with; empty: $KUBECONFIG's first file, else ~/.kube/config (see DefaultKubeconfig).
	Kubeconfig string
	// APIServer is the URL of the API server the cluster-local preset scrapes through; empty:
	// the server of Kubeconfig's current context.
	APIServer string
	// StaticTargets are cluster-wide host:port targets (argo-rollouts-metrics.argo-rollouts.svc:8090)
	// that the daemonset preset shares out between the agents, like annotated services.
	StaticTargets []string
}

// presets maps each preset to its template and the host paths it reads. "daemonset" reads
// the node's filesystems where the DaemonSet mounts them (/host/proc, /host/sys, /host/root)
// and adds the Kubernetes targets (daemonset.yaml, which includes host.yaml);
// "cluster-local" reaches a cluster's targets through its API server from a kubeconfig.
var presets = map[string]struct {
	file                      string
	procPath, sysPath, rootFS string
	podResources              string
}{
	"host":          {"host.yaml", "/proc", "/sys", "/", ""},
	"cluster-local": {file: "cluster-local.yaml"},
	"sidecar":       {file: "sidecar.yaml"},
	"daemonset":     {"daemonset.yaml", "/host/proc", "/host/sys", "/host/root", "/var/lib/kubelet/pod-resources/kubelet.sock"},
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
	if data.ProcPath == "" {
		data.ProcPath, data.SysPath, data.RootPath = p.procPath, p.sysPath, p.rootFS
		data.PodResourcesSocket = p.podResources
	}
	if data.LogDir == "" {
		data.LogDir = "/var/log/pods"
	}
	if p.file == "sidecar.yaml" && data.OTLPEndpoint == "" {
		return nil, fmt.Errorf("preset %s forwards OTLP: give --otlp-endpoint (or SONDE_OTLP_ENDPOINT)", name)
	}
	switch data.OTLPProtocol {
	case "":
		data.OTLPProtocol = OTLPGRPC
	case OTLPGRPC, OTLPHTTPProtobuf:
	default:
		return nil, fmt.Errorf("preset %s: %w", name, CheckOTLPProtocol(data.OTLPProtocol))
	}
	if p.file == "cluster-local.yaml" {
		if err := resolveCluster(&data); err != nil {
			return nil, fmt.Errorf("preset %s: %w", name, err)
		}
	}
	data.Name = name
	// Every preset file is parsed into one set, so that a preset can include another
	// ({{template "host.yaml" .}}).
	tmpl, err := template.New(name).Option("missingkey=error").Funcs(presetFuncs(data)).ParseFS(presetFS, "presets/*.yaml")
	if err != nil {
		return nil, fmt.Errorf("preset %s: %w", name, err)
	}
	var b bytes.Buffer
	if err := tmpl.ExecuteTemplate(&b, p.file, data); err != nil {
		return nil, fmt.Errorf("preset %s: %w", name, err)
	}
	return b.Bytes(), nil
}

// presetFuncs are the functions preset templates call:
//
//	metrics_to  the component collected samples go to (remote write, or the local serve)
//	logs_to     the component log lines go to (loki.write, or loki.echo)
//	rules NAME  the relabelling rule set NAME (discovery/kubernetes/rules) without its header
//	            comment, indented to sit under a "rules:" key of a component (six spaces)
//	otlp_to     the component forwarded OTLP goes to (otelcol.exporter.otlp, or
//	            otelcol.exporter.otlphttp for OTLPProtocol http/protobuf)
//	api_host, api_scheme, api_path  parts of APIServer
//	list, replace                   helpers
func presetFuncs(data PresetData) template.FuncMap {
	api, _ := url.Parse(data.APIServer)
	if api == nil {
		api = &url.URL{}
	}
	return template.FuncMap{
		"list":       func(s ...string) []string { return s },
		"replace":    strings.ReplaceAll,
		"api_host":   func() string { return api.Host },
		"api_scheme": func() string { return api.Scheme },
		"api_path":   func() string { return strings.TrimRight(api.Path, "/") },
		"metrics_to": func() string {
			if data.PrometheusURL != "" {
				return "prometheus.remote_write/default"
			}
			return "prometheus.serve/local"
		},
		"logs_to": func() string {
			if data.LokiURL != "" {
				return "loki.write/default"
			}
			return "loki.echo/stdout"
		},
		"otlp_to": func() string {
			if data.OTLPProtocol == OTLPHTTPProtobuf {
				return "otelcol.exporter.otlphttp/default"
			}
			return "otelcol.exporter.otlp/default"
		},
		"join": strings.Join,
		"rules": func(name string) (string, error) {
			y, err := rules.YAML(name)
			if err != nil {
				return "", err
			}
			lines := strings.Split(strings.TrimRight(y, "\n"), "\n")
			for len(lines) > 0 && strings.HasPrefix(lines[0], "#") {
				lines = lines[1:]
			}
			b := strings.Builder{}
			b.WriteString(" # discovery/kubernetes/rules/" + name + ".yaml")
			for _, line := range lines {
				b.WriteString("\n")
				if line != "" {
					b.WriteString("      " + line)
				}
			}
			return b.String(), nil
		},
	}
}

// RemoteWriteURL turns what a user passes as --prometheus-url into a remote-write URL:
// a bare server address (http://prometheus:9090) gets Prometheus' /api/v1/write path; a URL
// with a path is used as it is (Mimir's /api/v1/push, say).
func RemoteWriteURL(s string) (string, error) {
	return backendURL("prometheus", s, "/api/v1/write", "http://prometheus:9090")
}

// OTLPEndpoint normalises --otlp-endpoint: host:port without a scheme means plain-text
// gRPC (http://), as an in-cluster Tempo or Jaeger usually serves.
func OTLPEndpoint(s string) (string, error) {
	return otlpURL(s, "OTLP endpoint %q: want host:port or an http(s) URL such as tempo:4317")
}

// otlpURL is s with http:// when it has no scheme, or the error bad (with s) when it is not
// an http(s) URL with a host.
func otlpURL(s, bad string) (string, error) {
	if s == "" {
		return "", nil
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf(bad, s)
	}
	return u.String(), nil
}

// The values of --otlp-protocol, spelt as OTEL_EXPORTER_OTLP_PROTOCOL spells them.
const (
	OTLPGRPC         = "grpc"
	OTLPHTTPProtobuf = "http/protobuf"
)

// CheckOTLPProtocol says whether s is a protocol the presets forward OTLP with.
// http/json, which the OpenTelemetry SDKs may also offer, is not one.
func CheckOTLPProtocol(s string) error {
	switch s {
	case OTLPGRPC, OTLPHTTPProtobuf:
		return nil
	}
	return fmt.Errorf("OTLP protocol %q: want %s or %s", s, OTLPGRPC, OTLPHTTPProtobuf)
}

// OTLPEndpointFor normalises --otlp-endpoint for protocol, as the OpenTelemetry SDKs read
// OTEL_EXPORTER_OTLP_ENDPOINT: for grpc see OTLPEndpoint; for http/protobuf the endpoint is
// a base URL (http://tempo:4318, https://otlp.example.com/otlp) that otelcol.exporter.otlphttp
// appends /v1/traces, /v1/metrics and /v1/logs to, and host:port without a scheme means
// plain-text HTTP (http://), as for gRPC.
func OTLPEndpointFor(protocol, s string) (string, error) {
	if protocol != OTLPHTTPProtobuf {
		return OTLPEndpoint(s)
	}
	return otlpURL(s, "OTLP/HTTP endpoint %q: want host:port or an http(s) base URL such as http://tempo:4318")
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
// (a service-account token and KUBERNETES_SERVICE_HOST) it is "daemonset"; with a kubeconfig
// ($KUBECONFIG or ~/.kube/config) it is "cluster-local"; otherwise "host".
func DetectPreset(lookup func(string) (string, bool)) (name, reason string) {
	const tokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
	if h, ok := lookup("KUBERNETES_SERVICE_HOST"); ok && h != "" {
		if _, err := os.Stat(tokenFile); err == nil {
			return "daemonset", "running in a Kubernetes pod (service-account token found)"
		}
	}
	if kc := DefaultKubeconfig(lookup); kc != "" {
		if _, err := os.Stat(kc); err == nil {
			return "cluster-local", "no Kubernetes service account; kubeconfig " + kc + " found"
		}
	}
	if _, err := os.Stat(filepath.Join("/host", "proc", "stat")); err == nil {
		return "host", "no Kubernetes service account; host filesystem mounted at /host"
	}
	return "host", "no Kubernetes service account found"
}

// DefaultKubeconfig is the kubeconfig kubectl would use: the first file of $KUBECONFIG, else
// ~/.kube/config ("" when there is no home directory).
func DefaultKubeconfig(lookup func(string) (string, bool)) string {
	if v, ok := lookup("KUBECONFIG"); ok {
		for _, f := range filepath.SplitList(v) {
			if f != "" {
				return f
			}
		}
	}
	home, _ := lookup("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	if home == "" {
		return ""
	}
	return filepath.Join(home, ".kube", "config")
}

// resolveCluster fills the kubeconfig and the API server URL the cluster-local preset needs.
func resolveCluster(data *PresetData) error {
	if data.Kubeconfig == "" {
		data.Kubeconfig = DefaultKubeconfig(EnvLookup)
	}
	if strings.HasPrefix(data.Kubeconfig, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			data.Kubeconfig = filepath.Join(home, data.Kubeconfig[2:])
		}
	}
	if data.APIServer != "" {
		return nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", data.Kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", data.Kubeconfig, err)
	}
	u, err := url.Parse(cfg.Host)
	if err != nil || u.Host == "" {
		return fmt.Errorf("kubeconfig %s: server %q is not a URL", data.Kubeconfig, cfg.Host)
	}
	data.APIServer = strings.TrimRight(u.String(), "/")
	return nil
}
