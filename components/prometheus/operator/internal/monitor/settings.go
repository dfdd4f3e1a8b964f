package monitor

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/relabel"
)

// SettingsLabel carries, on the targets of an endpoint (or Probe) that sets them, what
// prometheus.operator.scrape needs to scrape it as the operator's Prometheus would: the
// metricRelabelings and the TLS and credential settings, as JSON (Settings). Secrets are
// referenced, never copied: the scraper reads them from the API server. Like every __meta_
// label it is gone from the scraped series, and discovery.shard does not hash it.
const SettingsLabel model.LabelName = "__meta_prometheus_operator_scrape"

// Settings are the per-job scrape settings of a monitor endpoint or Probe that cannot be
// target labels of their own.
type Settings struct {
	// Namespace is the monitor's: where its Secrets and ConfigMaps are read.
	Namespace         string             `json:"namespace"`
	MetricRelabelings []RelabelConfig    `json:"metricRelabelings,omitempty"`
	TLSConfig         *TLSConfig         `json:"tlsConfig,omitempty"`
	BasicAuth         *BasicAuth         `json:"basicAuth,omitempty"`
	BearerTokenSecret *SecretKeySelector `json:"bearerTokenSecret,omitempty"`
	Authorization     *Authorization     `json:"authorization,omitempty"`
}

// SecretKeySelector names a key of a Secret (or ConfigMap) in the monitor's namespace.
type SecretKeySelector struct {
	Name     string `json:"name"`
	Key      string `json:"key"`
	Optional *bool  `json:"optional,omitempty"`
}

// SecretOrConfigMap is a value from either a Secret or a ConfigMap.
type SecretOrConfigMap struct {
	Secret    *SecretKeySelector `json:"secret,omitempty"`
	ConfigMap *SecretKeySelector `json:"configMap,omitempty"`
}

// TLSConfig is the operator's SafeTLSConfig: CA, client certificate and key from the API
// server, no files.
type TLSConfig struct {
	CA                 SecretOrConfigMap  `json:"ca"`
	Cert               SecretOrConfigMap  `json:"cert"`
	KeySecret          *SecretKeySelector `json:"keySecret,omitempty"`
	ServerName         string             `json:"serverName,omitempty"`
	InsecureSkipVerify bool               `json:"insecureSkipVerify,omitempty"`
	MinVersion         string             `json:"minVersion,omitempty"`
	MaxVersion         string             `json:"maxVersion,omitempty"`
}

// BasicAuth takes the user name and password from Secrets.
type BasicAuth struct {
	Username SecretKeySelector `json:"username"`
	Password SecretKeySelector `json:"password"`
}

// Authorization is an Authorization header of a type (default Bearer) with credentials
// from a Secret.
type Authorization struct {
	Type        string             `json:"type,omitempty"`
	Credentials *SecretKeySelector `json:"credentials,omitempty"`
}

// IsZero tells whether s sets nothing (a plain scrape).
func (s *Settings) IsZero() bool {
	return len(s.MetricRelabelings) == 0 && s.TLSConfig == nil && s.BasicAuth == nil &&
		s.BearerTokenSecret == nil && s.Authorization == nil
}

// settingsFields are the fields of an endpoint (or Probe spec) read into Settings.
var settingsFields = []string{"metricRelabelings", "tlsConfig", "basicAuth", "bearerTokenSecret", "authorization"}

// decodeSettings reads the settings fields of obj strictly: a field with a key sonde does
// not know (a TLS file path, an unknown option) is an error naming it, and the endpoint is
// skipped rather than scraped without it.
func decodeSettings(obj map[string]any, namespace, path string) (*Settings, error) {
	s := &Settings{Namespace: namespace}
	into := map[string]any{
		"metricRelabelings": &s.MetricRelabelings, "tlsConfig": &s.TLSConfig, "basicAuth": &s.BasicAuth,
		"bearerTokenSecret": &s.BearerTokenSecret, "authorization": &s.Authorization,
	}
	for _, k := range settingsFields {
		v, ok := obj[k]
		if !ok {
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(into[k]); err != nil {
			return nil, fmt.Errorf("%s.%s: %w", path, k, err)
		}
	}
	return s, nil
}

// label validates s and returns its label value; "" when s sets nothing.
func (s *Settings) label() (model.LabelValue, error) {
	if s == nil || s.IsZero() {
		return "", nil
	}
	if _, err := s.MetricRelabelConfigs(); err != nil {
		return "", err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	return model.LabelValue(b), nil
}

// MetricRelabelConfigs converts the metricRelabelings to Prometheus' rules.
func (s *Settings) MetricRelabelConfigs() ([]*relabel.Config, error) {
	var out []*relabel.Config
	for i, r := range s.MetricRelabelings {
		c, err := r.config()
		if err != nil {
			return nil, fmt.Errorf("metricRelabelings[%d]: %w", i, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// ParseSettings reads a SettingsLabel value.
func ParseSettings(v model.LabelValue) (*Settings, error) {
	s := &Settings{}
	if err := json.Unmarshal([]byte(v), s); err != nil {
		return nil, fmt.Errorf("%s: %w", SettingsLabel, err)
	}
	return s, nil
}
