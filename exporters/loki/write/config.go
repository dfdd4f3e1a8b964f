package write

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"golang.org/x/net/http/httpguts"

	"github.com/sondehq/sonde/internal/httppush"
	"github.com/sondehq/sonde/internal/units"
	"github.com/sondehq/sonde/pipeline"
)

// Arguments configure loki.write.
//
//	loki.write/default:
//	  endpoints:
//	    - url: http://loki:3100/loki/api/v1/push
//	      tenant_id: team-a
//	      basic_auth: {username: sonde, password_file: /etc/loki/password}
//	      batch_size: 1MiB
//	      batch_wait: 1s
//	  external_labels: {cluster: prod}
type Arguments struct {
	// Endpoints each receive every entry, through their own queue and sender.
	Endpoints []EndpointConfig `yaml:"endpoints"`
	// ExternalLabels are added to every stream; a label the entry already has wins.
	ExternalLabels map[string]string `yaml:"external_labels,omitempty"`
}

// DefaultArguments returns Arguments with their defaults (endpoints get theirs when decoded).
func DefaultArguments() *Arguments { return &Arguments{} }

// EndpointConfig is one Loki push endpoint and how to talk to it.
type EndpointConfig struct {
	// Name labels the endpoint's metrics (default: the URL, without credentials).
	Name string `yaml:"name,omitempty"`
	// URL is the push URL, e.g. http://loki:3100/loki/api/v1/push.
	URL config.URL `yaml:"url"`
	// TenantID is sent as X-Scope-OrgID.
	TenantID string `yaml:"tenant_id,omitempty"`
	// Headers are added to every request.
	Headers map[string]string `yaml:"headers,omitempty"`
	// HTTPClientConfig holds auth, TLS and proxy settings (basic_auth, authorization,
	// bearer_token, bearer_token_file, oauth2, tls_config, proxy_url, ...).
	HTTPClientConfig config.HTTPClientConfig `yaml:",inline"`
	// BatchSize is the most line bytes one request carries.
	BatchSize units.ByteSize `yaml:"batch_size"`
	// BatchWait is the longest an entry waits for its batch to fill.
	BatchWait model.Duration `yaml:"batch_wait"`
	// MinBackoff and MaxBackoff bound the exponential backoff between retries. There is no
	// limit on the number of retries: while Loki is down the queue fills and the sources
	// wait.
	MinBackoff model.Duration `yaml:"min_backoff"`
	MaxBackoff model.Duration `yaml:"max_backoff"`
	// Timeout bounds one request.
	Timeout model.Duration `yaml:"timeout"`
	// RetryOnHTTP429 retries requests Loki rate-limited (honouring Retry-After); when false
	// they are dropped (reason rate_limited).
	RetryOnHTTP429 bool `yaml:"retry_on_http_429"`
	// QueueConfig bounds the entries waiting for this endpoint.
	QueueConfig QueueConfig `yaml:"queue_config"`
}

// QueueConfig bounds an endpoint's queue.
type QueueConfig struct {
	// Capacity is the most line bytes queued for the endpoint; when it is full, senders
	// wait (backpressure). A batch larger than the capacity is let in when the queue is empty.
	Capacity units.ByteSize `yaml:"capacity"`
	// DrainTimeout bounds the time spent sending what is queued when the component stops.
	// What is not sent by then is not acknowledged, so its sources send it again later.
	DrainTimeout model.Duration `yaml:"drain_timeout"`
}

// DefaultEndpoint returns the values used for endpoint keys the user leaves out.
func DefaultEndpoint() EndpointConfig {
	return EndpointConfig{
		HTTPClientConfig: config.DefaultHTTPClientConfig,
		BatchSize:        1 << 20,
		BatchWait:        model.Duration(time.Second),
		MinBackoff:       model.Duration(500 * time.Millisecond),
		MaxBackoff:       model.Duration(5 * time.Minute),
		Timeout:          model.Duration(10 * time.Second),
		RetryOnHTTP429:   true,
		QueueConfig: QueueConfig{
			Capacity:     10 << 20,
			DrainTimeout: model.Duration(15 * time.Second),
		},
	}
}

// UnmarshalYAML fills the defaults, then decodes the keys written. It uses the callback
// form understood by every YAML library the project uses.
func (e *EndpointConfig) UnmarshalYAML(unmarshal func(any) error) error {
	type plain EndpointConfig
	*e = DefaultEndpoint()
	return unmarshal((*plain)(e))
}

// Validate implements pipeline.Arguments.
func (a *Arguments) Validate() error {
	var errs []error
	if len(a.Endpoints) == 0 {
		errs = append(errs, pipeline.Field("endpoints", "at least one endpoint is required"))
	}
	names := map[string]int{}
	for i := range a.Endpoints {
		path := fmt.Sprintf("endpoints[%d]", i)
		errs = append(errs, pipeline.Nest(path, a.Endpoints[i].Validate()))
		name := a.Endpoints[i].name()
		if j, dup := names[name]; dup {
			errs = append(errs, pipeline.Field(path+".name", "endpoint name %q is also the name of endpoints[%d]: set name to tell them apart", name, j))
		}
		names[name] = i
	}
	for name, value := range a.ExternalLabels {
		if !model.LabelName(name).IsValidLegacy() {
			errs = append(errs, pipeline.Field("external_labels."+name, "invalid label name %q", name))
		}
		if value == "" {
			errs = append(errs, pipeline.Field("external_labels."+name, "empty value"))
		}
	}
	return errors.Join(errs...)
}

// name is the endpoint's metrics label.
func (e *EndpointConfig) name() string {
	if e.Name != "" {
		return e.Name
	}
	return e.URL.Redacted()
}

// Validate checks the endpoint; field paths are relative to it.
func (e *EndpointConfig) Validate() error {
	errs := []error{httppush.ValidateURL(e.URL)}
	if e.TenantID != "" && !httpguts.ValidHeaderFieldValue(e.TenantID) {
		errs = append(errs, pipeline.Field("tenant_id", "invalid header value"))
	}
	errs = append(errs, httppush.ValidateHeaders(e.Headers, []string{"X-Scope-OrgID"},
		"use tenant_id for X-Scope-OrgID, basic_auth or bearer_token for Authorization"))
	if err := e.HTTPClientConfig.Validate(); err != nil {
		errs = append(errs, err) // auth and TLS settings sit inline in the endpoint
	}
	if e.BatchSize <= 0 {
		errs = append(errs, pipeline.Field("batch_size", "must be positive"))
	}
	if e.BatchWait <= 0 {
		errs = append(errs, pipeline.Field("batch_wait", "must be positive, got %s", e.BatchWait))
	}
	if e.MinBackoff <= 0 {
		errs = append(errs, pipeline.Field("min_backoff", "must be positive, got %s", e.MinBackoff))
	}
	if e.MaxBackoff < e.MinBackoff {
		errs = append(errs, pipeline.Field("max_backoff", "must not be below min_backoff (%s), got %s", e.MinBackoff, e.MaxBackoff))
	}
	if e.Timeout <= 0 {
		errs = append(errs, pipeline.Field("timeout", "must be positive, got %s", e.Timeout))
	}
	if e.QueueConfig.Capacity <= 0 {
		errs = append(errs, pipeline.Field("queue_config.capacity", "must be positive"))
	}
	if e.QueueConfig.DrainTimeout < 0 {
		errs = append(errs, pipeline.Field("queue_config.drain_timeout", "must not be negative, got %s", e.QueueConfig.DrainTimeout))
	}
	return errors.Join(errs...)
}
