package write

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/sondehq/sonde/internal/httppush"
	"github.com/sondehq/sonde/internal/units"
	"github.com/sondehq/sonde/pipeline"
)

// Arguments configure elasticsearch.write.
//
//	elasticsearch.write/default:
//	  endpoint:
//	    url: [https://es-1:9200, https://es-2:9200]
//	    api_key: ${ES_API_KEY}
//	    tls_config: {ca_file: /etc/es/ca.crt}
//	  index: "logs-{namespace}-%Y.%m.%d"
//	  batch_size: 5MiB
//	  batch_wait: 1s
//	  queue_config: {capacity: 32MiB}
type Arguments struct {
	// Endpoint is the Elasticsearch cluster: its node URLs, authentication and TLS.
	Endpoint EndpointConfig `yaml:"endpoint"`
	// Index is the index (or, with data_stream, the data stream) each entry is written to.
	// %Y, %m, %d and %H are the entry's UTC year, month, day and hour (%% is a %);
	// {label} is the value of the entry's label (lowercased, characters an index name
	// cannot hold replaced by _), {label:-default} with a value for entries without it.
	Index string `yaml:"index"`
	// DataStream writes to the data stream named by index with the bulk "create" operation
	// (data streams are append only, and need @timestamp, which every document has). Index
	// must then hold no date: a data stream rolls its backing indices over by itself.
	DataStream bool `yaml:"data_stream"`
	// BatchSize is the most document bytes one bulk request carries.
	BatchSize units.ByteSize `yaml:"batch_size"`
	// BatchWait is the longest an entry waits for its request to fill.
	BatchWait model.Duration `yaml:"batch_wait"`
	// MinBackoff and MaxBackoff bound the exponential backoff between retries (of a whole
	// request answered 429 or 5xx or not answered, or of the documents a bulk answer
	// rejected with 429 or 5xx). There is no limit on the number of retries: while
	// Elasticsearch is down the queue fills and the sources wait.
	MinBackoff model.Duration `yaml:"min_backoff"`
	// MaxBackoff: see MinBackoff.
	MaxBackoff model.Duration `yaml:"max_backoff"`
	// QueueConfig bounds the entries waiting to be sent.
	QueueConfig QueueConfig `yaml:"queue_config"`
}

// EndpointConfig is an Elasticsearch cluster and how to talk to it.
type EndpointConfig struct {
	// URL is the base URL of one node, or a list of nodes of the same cluster: each request,
	// and each retry, goes to the next node in turn. E.g. https://es:9200 or
	// http://zinc:4080/es; bulk requests go to <url>/_bulk (with the URL's query, if any).
	URL URLs `yaml:"url"`
	// APIKey is sent as "Authorization: ApiKey <api_key>" (the base64 "encoded" value
	// Elasticsearch returns when the key is created).
	APIKey config.Secret `yaml:"api_key,omitempty"`
	// APIKeyFile is read for the API key at every request (instead of api_key).
	APIKeyFile string `yaml:"api_key_file,omitempty"`
	// Headers are added to every request.
	Headers map[string]string `yaml:"headers,omitempty"`
	// HTTPClientConfig holds auth, TLS and proxy settings (basic_auth, authorization,
	// bearer_token, tls_config, proxy_url, ...).
	HTTPClientConfig config.HTTPClientConfig `yaml:",inline"`
	// Timeout bounds one bulk request.
	Timeout model.Duration `yaml:"timeout"`
	// Compression is how request bodies are compressed: none, or gzip (Elasticsearch and
	// OpenSearch accept gzip bodies; log documents shrink about tenfold).
	Compression string `yaml:"compression"`
}

// QueueConfig bounds the queue.
type QueueConfig struct {
	// Capacity is the most document bytes queued; when it is full, senders wait
	// (backpressure). A batch larger than the capacity is let in when the queue is empty.
	Capacity units.ByteSize `yaml:"capacity"`
	// DrainTimeout bounds the time spent sending what is queued when the component stops.
	// What is not sent by then is not acknowledged, so its sources send it again later.
	DrainTimeout model.Duration `yaml:"drain_timeout"`
}

// The values of EndpointConfig.Compression.
const (
	compressionNone = "none"
	compressionGzip = "gzip"
)

// URLs is one URL or a list of them: `url: http://a:9200` or `url: [http://a:9200, …]`.
type URLs []config.URL

// UnmarshalYAML accepts a single URL or a list.
func (u *URLs) UnmarshalYAML(unmarshal func(any) error) error {
	var one config.URL
	if err := unmarshal(&one); err == nil {
		*u = URLs{one}
		return nil
	}
	var list []config.URL
	if err := unmarshal(&list); err != nil {
		return err
	}
	*u = list
	return nil
}

// MarshalYAML writes a single URL as a scalar.
func (u URLs) MarshalYAML() (any, error) {
	if len(u) == 1 {
		return u[0], nil
	}
	return []config.URL(u), nil
}

// DefaultArguments returns Arguments with their defaults.
func DefaultArguments() *Arguments {
	return &Arguments{
		Endpoint: EndpointConfig{
			HTTPClientConfig: config.DefaultHTTPClientConfig,
			Timeout:          model.Duration(30 * time.Second),
			Compression:      compressionNone,
		},
		Index:      "sonde-logs-%Y.%m.%d",
		BatchSize:  5 << 20,
		BatchWait:  model.Duration(time.Second),
		MinBackoff: model.Duration(500 * time.Millisecond),
		MaxBackoff: model.Duration(5 * time.Minute),
		QueueConfig: QueueConfig{
			Capacity:     32 << 20,
			DrainTimeout: model.Duration(15 * time.Second),
		},
	}
}

// Validate implements pipeline.Arguments.
func (a *Arguments) Validate() error {
	errs := []error{pipeline.Nest("endpoint", a.Endpoint.Validate())}
	tmpl, err := parseIndex(a.Index)
	switch {
	case err != nil:
		errs = append(errs, pipeline.Field("index", "%v", err))
	case a.DataStream && tmpl.hasDate():
		errs = append(errs, pipeline.Field("index", "a data stream name holds no date (%q): the data stream rolls over by itself", a.Index))
	}
	if a.BatchSize <= 0 {
		errs = append(errs, pipeline.Field("batch_size", "must be positive"))
	}
	if a.BatchWait <= 0 {
		errs = append(errs, pipeline.Field("batch_wait", "must be positive, got %s", a.BatchWait))
	}
	if a.MinBackoff <= 0 {
		errs = append(errs, pipeline.Field("min_backoff", "must be positive, got %s", a.MinBackoff))
	}
	if a.MaxBackoff < a.MinBackoff {
		errs = append(errs, pipeline.Field("max_backoff", "must not be below min_backoff (%s), got %s", a.MinBackoff, a.MaxBackoff))
	}
	if a.QueueConfig.Capacity <= 0 {
		errs = append(errs, pipeline.Field("queue_config.capacity", "must be positive"))
	}
	if a.QueueConfig.DrainTimeout < 0 {
		errs = append(errs, pipeline.Field("queue_config.drain_timeout", "must not be negative, got %s", a.QueueConfig.DrainTimeout))
	}
	return errors.Join(errs...)
}

// Validate checks the endpoint; field paths are relative to it.
func (e *EndpointConfig) Validate() error {
	var errs []error
	if len(e.URL) == 0 {
		errs = append(errs, pipeline.Field("url", "at least one URL is required"))
	}
	for i, u := range e.URL {
		err := httppush.ValidateURL(u)
		var fe *pipeline.FieldError
		if len(e.URL) > 1 && errors.As(err, &fe) {
			err = pipeline.Field(fmt.Sprintf("url[%d]", i), "%v", fe.Err)
		}
		errs = append(errs, err)
	}
	errs = append(errs, httppush.ValidateHeaders(e.Headers, nil, "use basic_auth, api_key or authorization for Authorization"))
	if e.APIKey != "" || e.APIKeyFile != "" {
		h := &e.HTTPClientConfig
		switch {
		case e.APIKey != "" && e.APIKeyFile != "":
			errs = append(errs, pipeline.Field("api_key", "set api_key or api_key_file, not both"))
		case h.BasicAuth != nil || h.Authorization != nil || h.BearerToken != "" || h.BearerTokenFile != "" || h.OAuth2 != nil:
			errs = append(errs, pipeline.Field("api_key", "an API key is an Authorization header: leave basic_auth, authorization, bearer_token and oauth2 out"))
		}
	}
	if err := e.HTTPClientConfig.Validate(); err != nil {
		errs = append(errs, err) // auth and TLS settings sit inline in the endpoint
	}
	if e.Timeout <= 0 {
		errs = append(errs, pipeline.Field("timeout", "must be positive, got %s", e.Timeout))
	}
	if e.Compression != compressionNone && e.Compression != compressionGzip {
		errs = append(errs, pipeline.Field("compression", "%q: want none or gzip", e.Compression))
	}
	return errors.Join(errs...)
}

// httpClientConfig is the endpoint's client configuration with the API key, if any, as
// its Authorization.
func (e *EndpointConfig) httpClientConfig() config.HTTPClientConfig {
	h := e.HTTPClientConfig
	if e.APIKey != "" || e.APIKeyFile != "" {
		h.Authorization = &config.Authorization{Type: "ApiKey", Credentials: e.APIKey, CredentialsFile: e.APIKeyFile}
	}
	return h
}

// bulkURL is where a node's bulk requests go: <url>/_bulk, with the URL's query, if any
// (e.g. ?pipeline=…).
func bulkURL(u config.URL) string {
	b := *u.URL
	b.Path = strings.TrimSuffix(b.Path, "/") + "/_bulk"
	b.RawPath = ""
	b.Fragment = ""
	return b.String()
}
