package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/sondehq/sonde/config"
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
	logDir        string
	staticTargets string
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
		"OTLP gRPC endpoint received traces are forwarded to, e.g. tempo:4317 (env SONDE_OTLP_ENDPOINT); empty: traces are not accepted")
	fs.StringVar(&s.logDir, "log-dir", envOr("SONDE_LOG_DIR", "/var/log/pods"), "kubelet's pod log directory tailed by the presets (env SONDE_LOG_DIR)")
}

// presetData builds the values a preset is rendered with.
func (s *sourceFlags) presetData() (config.PresetData, error) {
	prom, err := config.RemoteWriteURL(s.prometheusURL)
	if err != nil {
		return config.PresetData{}, err
	}
	loki, err := config.LokiPushURL(s.lokiURL)
	if err != nil {
		return config.PresetData{}, err
	}
	otlp, err := config.OTLPEndpoint(s.otlpEndpoint)
	var static []string
	for _, t := range strings.Split(s.staticTargets, ",") {
		if t = strings.TrimSpace(t); t != "" {
			static = append(static, t)
		}
	}
	return config.PresetData{PrometheusURL: prom, LokiURL: loki, OTLPEndpoint: otlp, LogDir: s.logDir, StaticTargets: static}, err
}

// loader returns a pipeline.Loader for the chosen source, announcing the choice in the log.
func (s *sourceFlags) loader(reg *pipeline.Registry, logger *slog.Logger) (pipeline.Loader, error) {
	if s.configFile != "" {
		if s.preset != "" {
			return nil, fmt.Errorf("--config and --preset are exclusive")
		}
		logger.Info("using configuration file", "path", s.configFile)
		return func() (string, []pipeline.Spec, error) {
			f, err := config.Load(s.configFile, reg)
			if err != nil {
				return s.configFile, nil, err
			}
			return s.configFile, f.Specs, nil
		}, nil
	}
	name := s.preset
	if name == "" {
		var why string
		name, why = config.DetectPreset(config.EnvLookup)
		logger.Info("no --config given; using a built-in preset", "preset", name, "reason", why)
	} else {
		logger.Info("using built-in preset", "preset", name)
	}
	data, err := s.presetData()
	if err != nil {
		return nil, err
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
		f, err := config.Parse(source, y, reg, config.EnvLookup)
		if err != nil {
			return source, nil, err
		}
		return source, f.Specs, nil
	}, nil
}
