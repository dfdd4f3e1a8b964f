package kubelet

import (
	"errors"
	"net/url"
	"time"

	config_util "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/sondehq/sonde/internal/kube"
	"github.com/sondehq/sonde/pipeline"
)

// Defaults.
const (
	// DefaultURL is the kubelet on this host (with hostNetwork); the daemonset preset sets
	// https://${NODE_IP}:10250.
	DefaultURL = "https://localhost:10250"
	// DefaultRefreshInterval is how often /pods is read (as Grafana Alloy's discovery.kubelet).
	DefaultRefreshInterval = 5 * time.Second
)

// Arguments configure discovery.kubelet.
//
//	discovery.kubelet/pods:
//	  url: https://${NODE_IP}:10250
//	  tls_config: {insecure_skip_verify: true}   # kubelets with self-signed certificates
type Arguments struct {
	// URL is the kubelet's base URL; /pods is read under it.
	URL config_util.URL `yaml:"url"`
	// RefreshInterval is how often the pods are read.
	RefreshInterval model.Duration `yaml:"refresh_interval"`
	// Namespaces keeps only pods of these namespaces; empty: all.
	Namespaces []string `yaml:"namespaces"`
	// HTTPClientConfig is Prometheus' HTTP client configuration, inline. Defaults: the
	// service account's token (bearer_token_file) and CA (tls_config.ca_file).
	HTTPClientConfig config_util.HTTPClientConfig `yaml:",inline"`
}

// DefaultArguments returns Arguments with their defaults.
func DefaultArguments() *Arguments {
	u, _ := url.Parse(DefaultURL)
	hc := config_util.DefaultHTTPClientConfig
	hc.BearerTokenFile = kube.ServiceAccountDir + "/token"
	hc.TLSConfig.CAFile = kube.ServiceAccountDir + "/ca.crt"
	return &Arguments{
		URL:              config_util.URL{URL: u},
		RefreshInterval:  model.Duration(DefaultRefreshInterval),
		HTTPClientConfig: hc,
	}
}

// Validate implements pipeline.Arguments.
func (a *Arguments) Validate() error {
	var errs []error
	switch {
	case a.URL.URL == nil:
		errs = append(errs, pipeline.Field("url", "required"))
	case a.URL.Scheme != "http" && a.URL.Scheme != "https":
		errs = append(errs, pipeline.Field("url", "scheme must be http or https, got %q", a.URL.Scheme))
	case a.URL.Host == "":
		errs = append(errs, pipeline.Field("url", "has no host"))
	}
	if a.RefreshInterval <= 0 {
		errs = append(errs, pipeline.Field("refresh_interval", "must be positive, got %s", a.RefreshInterval))
	}
	errs = append(errs, kube.ValidateNamespaces("namespaces", a.Namespaces, pipeline.Field)...)
	if err := a.HTTPClientConfig.Validate(); err != nil {
		errs = append(errs, pipeline.Field("tls_config", "%w", err))
	}
	return errors.Join(errs...)
}
