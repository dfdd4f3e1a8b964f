package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/sondehq/sonde/components/prometheus/scrape"
	"github.com/sondehq/sonde/config"
	"github.com/sondehq/sonde/discovery/kubernetes/rules"
	"github.com/sondehq/sonde/pipeline"
)

// sourceFlags choose where the configuration comes from: a file, or a built-in preset with
// backends from flags or SONDE_* environment variables.
type sourceFlags struct {
	configFile    string
	preset        string
	prometheusURL string
	lokiURL       string
	otlpEndpoint  string
	otlpProtocol  string
	logDir        string
	staticTargets string
	kubeconfig    string
	// serverListen is sonde's own HTTP address (run and validate only): a component
	// listening on an overlapping address is a configuration error.
	serverListen string
}

// registerServerListen adds --server.listen, which run binds and validate checks the
// configuration against.
func (s *sourceFlags) registerServerListen(fs *flag.FlagSet) {
	fs.StringVar(&s.serverListen, "server.listen", envOr("SONDE_SERVER_LISTEN", "127.0.0.1:12345"),
		"HTTP listen address (env SONDE_SERVER_LISTEN); no component may listen on it")
}

// parse decodes and validates a configuration, checking it against --server.listen.
func (s *sourceFlags) parse(name string, data []byte, reg *pipeline.Registry) (*config.File, error) {
	// The presets' rule sets name jobs after SONDE_JOB_NAMES: a value they do not know is a
	// mistake to report, not a reason to fall back to the default names.
	jobNames, _ := s.lookup(rules.JobNamesVariable)
	if err := rules.CheckJobNames(jobNames); err != nil {
		return nil, err
	}
	opts := config.Options{Lookup: s.lookup}
	if s.serverListen != "" {
		opts.Reserved = []pipeline.ListenAddr{{Field: "--server.listen", Addr: s.serverListen}}
	}
	return config.ParseWith(name, data, reg, opts)
}

func (s *sourceFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.configFile, "config", "", "configuration file (YAML); without it a built-in preset runs")
	fs.StringVar(&s.preset, "preset", "", "built-in preset to run without --config: "+strings.Join(config.PresetNames(), ", ")+" (default: chosen from the environment)")
	fs.StringVar(&s.prometheusURL, "prometheus-url", os.Getenv("SONDE_PROMETHEUS_URL"),
		"Prometheus (or Mimir) to remote-write to, e.g. http://127.0.0.1:9090 (env SONDE_PROMETHEUS_URL); empty: serve samples locally")
	fs.StringVar(&s.lokiURL, "loki-url", os.Getenv("SONDE_LOKI_URL"),
		"Loki to push container logs to, e.g. http://127.0.0.1:3100 (env SONDE_LOKI_URL); empty: print log lines to stdout")
	fs.StringVar(&s.staticTargets, "static-targets", os.Getenv("SONDE_STATIC_TARGETS"),
		"comma-separated cluster-wide host:port targets the daemonset preset shares out between the agents, e.g. argo-rollouts-metrics.argo-rollouts.svc:8090 (env SONDE_STATIC_TARGETS)")
	fs.StringVar(&s.otlpEndpoint, "otlp-endpoint", os.Getenv("SONDE_OTLP_ENDPOINT"),
		"OTLP endpoint received traces are forwarded to, e.g. tempo:4317, or with --otlp-protocol http/protobuf a base URL such as http://tempo:4318 (env SONDE_OTLP_ENDPOINT); empty: traces are not accepted")
	fs.StringVar(&s.otlpProtocol, "otlp-protocol", "",
		"how OTLP is forwarded to --otlp-endpoint: grpc (otelcol.exporter.otlp) or http/protobuf (otelcol.exporter.otlphttp, which appends /v1/traces, /v1/metrics and /v1/logs to the endpoint) "+
			"(env SONDE_OTLP_PROTOCOL, then OTEL_EXPORTER_OTLP_PROTOCOL; default grpc)")
	fs.StringVar(&s.logDir, "log-dir", envOr("SONDE_LOG_DIR", "/var/log/pods"), "kubelet's pod log directory tailed by the presets (env SONDE_LOG_DIR)")
	fs.StringVar(&s.kubeconfig, "kubeconfig", os.Getenv("SONDE_KUBECONFIG"),
		"kubeconfig file to reach the API server with, as kubectl's --kubeconfig (env SONDE_KUBECONFIG; empty: the first file of $KUBECONFIG, else ~/.kube/config). "+
			"Outside a pod it selects the cluster-local preset; the daemonset preset and configurations reading ${SONDE_KUBECONFIG} use it instead of the pod's service account")
}

// checkKubeconfig expands a leading ~/ of --kubeconfig and checks that the file exists: a
// kubeconfig named on purpose that is missing is an error, not a reason to fall back to
// another cluster or to the host preset.
func (s *sourceFlags) checkKubeconfig() error {
	if s.kubeconfig == "" {
		return nil
	}
	s.kubeconfig = scrape.ExpandHome(s.kubeconfig)
	if _, err := os.Stat(s.kubeconfig); err != nil {
		return fmt.Errorf("--kubeconfig: %w", err)
	}
	return nil
}

// lookup is the environment as presets and configuration files see it: --kubeconfig, when
// given, is both SONDE_KUBECONFIG (what the daemonset preset, and configurations rendered
// from it, hand discovery.kubernetes) and KUBECONFIG (what preset detection and the
// cluster-local preset read). So the precedence is kubectl's, with the flag's environment
// variable second: --kubeconfig, SONDE_KUBECONFIG, KUBECONFIG, ~/.kube/config.
func (s *sourceFlags) lookup(name string) (string, bool) {
	if s.kubeconfig != "" && (name == "SONDE_KUBECONFIG" || name == "KUBECONFIG") {
		return s.kubeconfig, true
	}
	return config.EnvLookup(name)
}

// presetData builds the values a preset is rendered with.
func (s *sourceFlags) presetData() (config.PresetData, error) {
	if err := s.checkKubeconfig(); err != nil {
		return config.PresetData{}, err
	}
	prom, err := config.RemoteWriteURL(s.prometheusURL)
	if err != nil {
		return config.PresetData{}, err
	}
	loki, err := config.LokiPushURL(s.lokiURL)
	if err != nil {
		return config.PresetData{}, err
	}
	protocol, err := s.otlpProtocolValue()
	if err != nil {
		return config.PresetData{}, err
	}
	otlp, err := config.OTLPEndpointFor(protocol, s.otlpEndpoint)
	var static []string
	for _, t := range strings.Split(s.staticTargets, ",") {
		if t = strings.TrimSpace(t); t != "" {
			static = append(static, t)
		}
	}
	return config.PresetData{PrometheusURL: prom, LokiURL: loki, OTLPEndpoint: otlp, OTLPProtocol: protocol, LogDir: s.logDir, StaticTargets: static,
		Kubeconfig: s.kubeconfig}, err
}

// otlpProtocolValue is the OTLP protocol the presets forward with: --otlp-protocol, else
// SONDE_OTLP_PROTOCOL, else the OpenTelemetry SDKs' OTEL_EXPORTER_OTLP_PROTOCOL, else grpc.
// A value that is none of them is an error naming where it came from.
func (s *sourceFlags) otlpProtocolValue() (string, error) {
	v, from := s.otlpProtocol, "--otlp-protocol"
	for _, env := range []string{"SONDE_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if v != "" {
			break
		}
		v, _ = s.lookup(env)
		from = env
	}
	if v == "" {
		return config.OTLPGRPC, nil
	}
	if err := config.CheckOTLPProtocol(v); err != nil {
		return "", fmt.Errorf("%s: %w", from, err)
	}
	return v, nil
}

// loader returns a pipeline.Loader for the chosen source, announcing the choice in the log.
func (s *sourceFlags) loader(reg *pipeline.Registry, logger *slog.Logger) (pipeline.Loader, error) {
	if err := s.checkKubeconfig(); err != nil {
		return nil, err
	}
	if s.configFile != "" {
		if s.preset != "" {
			return nil, fmt.Errorf("--config and --preset are exclusive")
		}
		logger.Info("using configuration file", "path", s.configFile)
		return func() (string, []pipeline.Spec, error) {
			data, err := os.ReadFile(s.configFile)
			if err != nil {
				return s.configFile, nil, fmt.Errorf("read config: %w", err)
			}
			f, err := s.parse(s.configFile, data, reg)
			if err != nil {
				return s.configFile, nil, err
			}
			return s.configFile, f.Specs, nil
		}, nil
	}
	name := s.preset
	if name == "" {
		var why string
		name, why = config.DetectPreset(s.lookup)
		logger.Info("no --config given; using a built-in preset", "preset", name, "reason", why)
	} else {
		logger.Info("using built-in preset", "preset", name)
	}
	data, err := s.presetData()
	if err != nil {
		return nil, err
	}
	if s.kubeconfig != "" {
		logger.Info("reaching the API server with the given kubeconfig", "kubeconfig", s.kubeconfig)
	}
	if data.PrometheusURL == "" {
		logger.Info("no --prometheus-url given; collected samples are served locally",
			"path", pipeline.ComponentPath("prometheus.serve/local")+"metrics")
	}
	if data.LokiURL == "" {
		logger.Info("no --loki-url given; container log lines are printed to stdout as JSON", "log_dir", data.LogDir)
	}
	source := "<preset " + name + ">"
	return func() (string, []pipeline.Spec, error) {
		y, err := config.RenderPreset(name, data)
		if err != nil {
			return source, nil, err
		}
		f, err := s.parse(source, y, reg)
		if err != nil {
			return source, nil, err
		}
		return source, f.Specs, nil
	}, nil
}
