package scrape

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/alecthomas/units"
	config_util "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"

	"github.com/sondehq/sonde/pipeline"
)

// Defaults that differ from Prometheus'.
const (
	// DefaultScrapeInterval is sonde's default (Prometheus' is 1m): node-local targets are
	// cheap to scrape and dashboards expect 15s resolution.
	DefaultScrapeInterval = 15 * time.Second
	// DefaultScrapeTimeout applies when scrape_timeout is 0: 10s, or the interval when that
	// is shorter (as in Prometheus).
	DefaultScrapeTimeout = 10 * time.Second
	// DefaultBodySizeLimit bounds one uncompressed scrape response (Prometheus has no
	// default bound): an agent on every node must not be taken down by one exporter.
	DefaultBodySizeLimit = 100 * units.MiB
)

// Arguments configure prometheus.scrape. They mirror Prometheus' scrape_config, with
// targets coming from other components (targets) and/or static_configs, and samples going
// to forward_to. The HTTP client settings (tls_config, basic_auth, authorization, oauth2,
// bearer_token_file, proxy_url, follow_redirects, enable_http2, http_headers ...) are
// Prometheus' own, written inline.
type Arguments struct {
	// Targets are the ids of the components whose targets are scraped.
	Targets []string `yaml:"targets"`
	// StaticConfigs are fixed targets, as in Prometheus.
	StaticConfigs []StaticConfig `yaml:"static_configs"`
	// ForwardTo are the ids of the components that receive the samples. Required.
	ForwardTo []string `yaml:"forward_to"`

	// JobName is the job label's default value; empty means the component id.
	JobName string `yaml:"job_name"`
	// ScrapeInterval is how often each target is scraped.
	ScrapeInterval model.Duration `yaml:"scrape_interval"`
	// ScrapeTimeout bounds one scrape; 0 means DefaultScrapeTimeout capped at the interval.
	ScrapeTimeout model.Duration `yaml:"scrape_timeout"`
	// MetricsPath is the URL path scraped (target label __metrics_path__ overrides it).
	MetricsPath string `yaml:"metrics_path"`
	// Scheme is http or https (target label __scheme__ overrides it).
	Scheme string `yaml:"scheme"`
	// Params are URL query parameters (target labels __param_<name> override them).
	Params url.Values `yaml:"params"`

	// HonorLabels keeps the scraped labels when they clash with target labels.
	HonorLabels bool `yaml:"honor_labels"`
	// HonorTimestamps keeps the timestamps the target exposes.
	HonorTimestamps bool `yaml:"honor_timestamps"`
	// TrackTimestampsStaleness writes staleness markers for series with explicit timestamps.
	TrackTimestampsStaleness bool `yaml:"track_timestamps_staleness"`
	// EnableCompression asks targets for gzip.
	EnableCompression bool `yaml:"enable_compression"`
	// ScrapeProtocols are offered in the Accept header, preferred first; empty means
	// Prometheus' default list (protobuf first when scrape_native_histograms is set).
	ScrapeProtocols []config.ScrapeProtocol `yaml:"scrape_protocols"`
	// FallbackScrapeProtocol parses responses with a missing or unknown Content-Type;
	// empty fails such scrapes.
	FallbackScrapeProtocol config.ScrapeProtocol `yaml:"fallback_scrape_protocol"`
	// ScrapeNativeHistograms ingests native histograms.
	ScrapeNativeHistograms bool `yaml:"scrape_native_histograms"`
	// StartTimestamps ingests the start (created) timestamps that targets expose for
	// counters, histograms and summaries (OpenMetrics `_created` lines, the protobuf format's
	// created_timestamp), as Prometheus' created-timestamp-zero-ingestion does:
	// prometheus.remote_write sends them with remote write 2.0 (each sample's
	// start_timestamp). OpenMetrics `_created` series are then not ingested as samples.
	StartTimestamps bool `yaml:"start_timestamps"`

	// BodySizeLimit fails scrapes whose uncompressed body is larger; 0: no limit.
	BodySizeLimit units.Base2Bytes `yaml:"body_size_limit"`
	// SampleLimit fails scrapes with more samples; 0: no limit.
	SampleLimit uint `yaml:"sample_limit"`
	// TargetLimit fails all scrapes when there are more targets; 0: no limit.
	TargetLimit uint `yaml:"target_limit"`
	// LabelLimit fails scrapes with a series with more labels; 0: no limit.
	LabelLimit uint `yaml:"label_limit"`
	// LabelNameLengthLimit fails scrapes with a longer label name; 0: no limit.
	LabelNameLengthLimit uint `yaml:"label_name_length_limit"`
	// LabelValueLengthLimit fails scrapes with a longer label value; 0: no limit.
	LabelValueLengthLimit uint `yaml:"label_value_length_limit"`

	// UnhealthyDownRatio makes the component unhealthy while at least this fraction of
	// the targets scraped is down (their last scrape failed): 1, the default, when all of
	// them are; 0.5 when half of them are; 0 never.
	UnhealthyDownRatio float64 `yaml:"unhealthy_down_ratio"`

	// KubeconfigFile takes the TLS and credential settings from a kubeconfig's current
	// context (~ is expanded), to scrape through the API server's proxy from outside the
	// cluster; it excludes tls_config and the authentication settings.
	KubeconfigFile string `yaml:"kubeconfig_file"`

	// HTTPClientConfig is Prometheus' HTTP client configuration, inline.
	HTTPClientConfig config_util.HTTPClientConfig `yaml:",inline"`
}

// StaticConfig is a fixed list of targets sharing labels, as in Prometheus' static_configs.
type StaticConfig struct {
	// Targets are host:port addresses.
	Targets []string `yaml:"targets"`
	// Labels are added to every target of the list.
	Labels map[string]string `yaml:"labels"`
}

// DefaultArguments returns Arguments with their defaults.
func DefaultArguments() *Arguments {
	return &Arguments{
		ScrapeInterval:         model.Duration(DefaultScrapeInterval),
		MetricsPath:            "/metrics",
		Scheme:                 "http",
		HonorTimestamps:        true,
		EnableCompression:      true,
		FallbackScrapeProtocol: config.PrometheusText0_0_4,
		BodySizeLimit:          DefaultBodySizeLimit,
		UnhealthyDownRatio:     1,
		HTTPClientConfig:       config_util.DefaultHTTPClientConfig,
	}
}

// References implements pipeline.Referencer.
func (a *Arguments) References() []pipeline.Reference {
	return []pipeline.Reference{
		{Field: "targets", Kind: pipeline.KindTargets, IDs: a.Targets},
		{Field: "forward_to", Kind: pipeline.KindMetrics, IDs: a.ForwardTo},
	}
}

// Validate implements pipeline.Arguments.
func (a *Arguments) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(validateIDs("forward_to", a.ForwardTo, true))
	add(validateIDs("targets", a.Targets, false))
	if len(a.Targets) == 0 && len(a.StaticConfigs) == 0 {
		add(pipeline.Field("targets", "nothing to scrape: set targets or static_configs"))
	}
	for i, sc := range a.StaticConfigs {
		add(pipeline.Nest(fmt.Sprintf("static_configs[%d]", i), sc.validate()))
	}

	if a.ScrapeInterval <= 0 {
		add(pipeline.Field("scrape_interval", "must be positive, got %s", a.ScrapeInterval))
	}
	switch {
	case a.ScrapeTimeout < 0:
		add(pipeline.Field("scrape_timeout", "must not be negative, got %s", a.ScrapeTimeout))
	case a.ScrapeInterval > 0 && a.ScrapeTimeout > a.ScrapeInterval:
		add(pipeline.Field("scrape_timeout", "%s is longer than scrape_interval %s", a.ScrapeTimeout, a.ScrapeInterval))
	}
	add(validatePath(a.MetricsPath))
	if a.Scheme != "http" && a.Scheme != "https" {
		add(pipeline.Field("scheme", "must be http or https, got %q", a.Scheme))
	}
	for k := range a.Params {
		if k == "" {
			add(pipeline.Field("params", "empty parameter name"))
		}
	}
	for i, p := range a.ScrapeProtocols {
		if err := p.Validate(); err != nil {
			add(pipeline.Field(fmt.Sprintf("scrape_protocols[%d]", i), "%w", err))
		}
	}
	if a.FallbackScrapeProtocol != "" {
		if err := a.FallbackScrapeProtocol.Validate(); err != nil {
			add(pipeline.Field("fallback_scrape_protocol", "%w", err))
		}
	}
	if a.UnhealthyDownRatio < 0 || a.UnhealthyDownRatio > 1 {
		add(pipeline.Field("unhealthy_down_ratio", "must be between 0 and 1, got %g", a.UnhealthyDownRatio))
	}
	if a.BodySizeLimit < 0 {
		add(pipeline.Field("body_size_limit", "must not be negative"))
	}
	if err := a.HTTPClientConfig.TLSConfig.Validate(); err != nil {
		add(pipeline.Field("tls_config", "%w", err))
	}
	if err := a.HTTPClientConfig.Validate(); err != nil {
		add(pipeline.Field(httpClientField(&a.HTTPClientConfig), "%w", err))
	}
	if a.KubeconfigFile != "" {
		h := a.HTTPClientConfig
		if h.Authorization != nil || h.BasicAuth != nil || h.OAuth2 != nil || h.BearerToken != "" || h.BearerTokenFile != "" ||
			h.TLSConfig.CAFile != "" || h.TLSConfig.CertFile != "" || h.TLSConfig.KeyFile != "" || h.TLSConfig.CA != "" {
			add(pipeline.Field("kubeconfig_file", "cannot be combined with tls_config certificates or authentication settings: the kubeconfig provides them"))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// Last, Prometheus' own checks, on what the component will run.
	if _, err := a.scrapeConfig("validate"); err != nil {
		return err
	}
	return nil
}

func validateIDs(field string, ids []string, required bool) error {
	if required && len(ids) == 0 {
		return pipeline.Field(field, "at least one component id is required")
	}
	for i, id := range ids {
		if id == "" {
			return pipeline.Field(field, "entry %d is empty", i)
		}
	}
	return nil
}

func (s StaticConfig) validate() error {
	var errs []error
	if len(s.Targets) == 0 {
		errs = append(errs, pipeline.Field("targets", "at least one target is required"))
	}
	for i, t := range s.Targets {
		switch {
		case t == "":
			errs = append(errs, pipeline.Field(fmt.Sprintf("targets[%d]", i), "empty target"))
		case strings.Contains(t, "/"):
			// As Prometheus: a URL here is a common mistake; the scheme and path belong in
			// scheme and metrics_path.
			errs = append(errs, pipeline.Field(fmt.Sprintf("targets[%d]", i), "%q is not host:port (set scheme and metrics_path instead)", t))
		}
	}
	for k, v := range s.Labels {
		if !model.UTF8Validation.IsValidLabelName(k) {
			errs = append(errs, pipeline.Field("labels."+k, "invalid label name"))
		}
		if !utf8.ValidString(v) {
			errs = append(errs, pipeline.Field("labels."+k, "value is not valid UTF-8"))
		}
	}
	return errors.Join(errs...)
}

func validatePath(p string) error {
	u, err := url.Parse(p)
	switch {
	case err != nil:
		return pipeline.Field("metrics_path", "%w", err)
	case !strings.HasPrefix(p, "/") || u.Scheme != "" || u.Host != "":
		return pipeline.Field("metrics_path", "must be a path starting with /, got %q", p)
	case u.RawQuery != "" || u.Fragment != "":
		return pipeline.Field("metrics_path", "must not hold a query or fragment, got %q (use params)", p)
	}
	return nil
}

// httpClientField names the key an HTTPClientConfig.Validate error is most likely about;
// those errors are plain strings about conflicting authentication settings.
func httpClientField(c *config_util.HTTPClientConfig) string {
	switch {
	case c.Authorization != nil:
		return "authorization"
	case c.BasicAuth != nil:
		return "basic_auth"
	case c.OAuth2 != nil:
		return "oauth2"
	case c.BearerToken != "":
		return "bearer_token"
	case c.BearerTokenFile != "":
		return "bearer_token_file"
	case c.HTTPHeaders != nil:
		return "http_headers"
	default:
		return "proxy_url"
	}
}

// scrapeConfig builds the Prometheus scrape configuration that one component runs, with
// every default that Prometheus' config loader would otherwise fill set here: the
// manager is handed the config directly.
func (a *Arguments) scrapeConfig(jobName string) (*config.ScrapeConfig, error) {
	if a.JobName != "" {
		jobName = a.JobName
	}
	nativeHistograms := a.ScrapeNativeHistograms
	protocols := a.ScrapeProtocols
	if len(protocols) == 0 {
		protocols = config.DefaultScrapeProtocols
		if nativeHistograms {
			protocols = config.DefaultProtoFirstScrapeProtocols
		}
	}
	timeout := a.ScrapeTimeout
	if timeout == 0 {
		timeout = min(model.Duration(DefaultScrapeTimeout), a.ScrapeInterval)
	}
	httpConfig := a.HTTPClientConfig
	if a.KubeconfigFile != "" {
		var err error
		if httpConfig, err = kubeconfigHTTPClient(a.KubeconfigFile, httpConfig); err != nil {
			return nil, pipeline.Field("kubeconfig_file", "%w", err)
		}
	}
	off := false
	sc := &config.ScrapeConfig{
		JobName:                        jobName,
		HonorLabels:                    a.HonorLabels,
		HonorTimestamps:                a.HonorTimestamps,
		TrackTimestampsStaleness:       a.TrackTimestampsStaleness,
		Params:                         a.Params,
		ScrapeInterval:                 a.ScrapeInterval,
		ScrapeTimeout:                  timeout,
		ScrapeProtocols:                protocols,
		ScrapeFallbackProtocol:         a.FallbackScrapeProtocol,
		ScrapeNativeHistograms:         &nativeHistograms,
		AlwaysScrapeClassicHistograms:  &off,
		ConvertClassicHistogramsToNHCB: &off,
		ExtraScrapeMetrics:             &off,
		MetricsPath:                    a.MetricsPath,
		Scheme:                         a.Scheme,
		EnableCompression:              a.EnableCompression,
		BodySizeLimit:                  a.BodySizeLimit,
		SampleLimit:                    a.SampleLimit,
		TargetLimit:                    a.TargetLimit,
		LabelLimit:                     a.LabelLimit,
		LabelNameLengthLimit:           a.LabelNameLengthLimit,
		LabelValueLengthLimit:          a.LabelValueLengthLimit,
		MetricNameValidationScheme:     model.UTF8Validation,
		MetricNameEscapingScheme:       model.AllowUTF8,
		HTTPClientConfig:               httpConfig,
	}
	// Validate fills nothing more here (everything is set above) but checks the result
	// the way Prometheus' loader would.
	if err := sc.Validate(globalConfig(a.ScrapeInterval)); err != nil {
		return nil, fmt.Errorf("scrape config: %w", err)
	}
	return sc, nil
}

// globalConfig is the Prometheus global section the component's scrape config is checked
// and applied under.
func globalConfig(interval model.Duration) config.GlobalConfig {
	g := config.DefaultGlobalConfig
	g.ScrapeInterval = interval
	g.ScrapeTimeout = min(model.Duration(DefaultScrapeTimeout), interval)
	return g
}
