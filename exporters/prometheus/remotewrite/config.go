package remotewrite

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/relabel"
	"go.yaml.in/yaml/v3"

	"github.com/sondehq/sonde/internal/httppush"
	"github.com/sondehq/sonde/internal/targets"
	"github.com/sondehq/sonde/internal/units"
	"github.com/sondehq/sonde/pipeline"
)

// Arguments configure one prometheus.remote_write component. Exactly one of Endpoint and
// Endpoints is given.
//
//	prometheus.remote_write/default:
//	  endpoints:
//	    - url: http://prometheus:9090/api/v1/write
//	    - name: mimir
//	      url: https://mimir.example/api/v1/push
//	      write_relabel_configs: [{source_labels: [__name__], regex: go_.*, action: drop}]
type Arguments struct {
	// Endpoint is the receiver when there is one.
	Endpoint EndpointConfig `yaml:"endpoint"`
	// Endpoints are several receivers: each is sent everything in the WAL, from its own
	// position and by its own shards, so a slow or unreachable one holds back no other.
	Endpoints []EndpointConfig `yaml:"endpoints,omitempty"`
	// ExternalLabels are added to every series sent; a label the series already has wins.
	ExternalLabels map[string]string `yaml:"external_labels,omitempty"`
	// WAL bounds the write-ahead log on disk that every endpoint is sent from.
	WAL WALConfig `yaml:"wal"`
}

// EndpointConfig is the remote-write receiver and how to talk to it.
type EndpointConfig struct {
	// Name tells the endpoint apart in metrics (label endpoint), logs and the UI, and keys
	// its position in the WAL; default: the URL, its password redacted.
	Name string `yaml:"name,omitempty"`
	// URL is the absolute http(s) URL of the receiver, e.g. http://prometheus:9090/api/v1/write.
	URL config.URL `yaml:"url"`
	// RemoteTimeout bounds one HTTP request.
	RemoteTimeout model.Duration `yaml:"remote_timeout"`
	// Headers are added to every request. Secrets belong in authorization or http_headers.
	Headers map[string]string `yaml:"headers,omitempty"`
	// HTTPClientConfig holds auth, TLS and proxy settings (basic_auth, authorization,
	// bearer_token, bearer_token_file, oauth2, tls_config, proxy_url, ...).
	HTTPClientConfig config.HTTPClientConfig `yaml:",inline"`
	// ProtobufMessage is the remote-write protocol, named as in Prometheus' remote_write:
	// io.prometheus.write.v2.Request (remote write 2.0: a symbols table, metadata inline per
	// series, the receiver's X-Prometheus-Remote-Write-*-Written answer), prometheus.WriteRequest
	// (1.0, metadata in requests of their own), or auto: 2.0, falling back to 1.0 for the rest
	// of the process's life when the receiver answers 415 or a 2xx without the *-Written
	// headers (a 1.0 receiver), the batch then sent again as 1.0.
	ProtobufMessage string `yaml:"protobuf_message"`
	// SigV4 signs every request with AWS Signature Version 4 (Amazon Managed Service for
	// Prometheus), instead of basic_auth, authorization, bearer_token or oauth2.
	SigV4 *SigV4Config `yaml:"sigv4,omitempty"`
	// Queue shapes the sharded send queue of this endpoint.
	Queue QueueConfig `yaml:"queue"`
	// Metadata is how the type, help and unit of metric families are sent.
	Metadata MetadataConfig `yaml:"metadata_config"`
	// WriteRelabelConfigs are Prometheus relabelling rules applied to every series sent to
	// this endpoint, after the external labels are added, as Prometheus' remote_write
	// write_relabel_configs: a series they drop is not sent to it (counted in
	// samples_filtered_total).
	WriteRelabelConfigs []*relabel.Config `yaml:"write_relabel_configs,omitempty"`
}

// MetadataConfig is how metric metadata (type, help and unit of each metric family, as
// scraped) is sent: with remote write 1.0 as Prometheus does, in requests of their own that
// carry all of it every send_interval; with 2.0 inline in every series sent. It is kept in
// memory only.
type MetadataConfig struct {
	// Send turns sending metadata on.
	Send bool `yaml:"send"`
	// SendInterval is how often all metadata known is sent with remote write 1.0.
	SendInterval model.Duration `yaml:"send_interval"`
	// MaxSamplesPerSend is the largest number of metric families one 1.0 metadata request
	// carries.
	MaxSamplesPerSend int `yaml:"max_samples_per_send"`
}

// QueueConfig shapes the sharded send queue.
type QueueConfig struct {
	// Shards is the number of parallel senders at start; a series always goes to the same
	// shard. The count adapts to the load between MinShards and MaxShards.
	Shards int `yaml:"shards"`
	// MinShards is the fewest shards the count goes down to; 0 means Shards (it only grows).
	MinShards int `yaml:"min_shards"`
	// MaxShards is the most shards the count grows to when the receiver does not keep up
	// with the data coming in (a backlog builds); 0 means 50, or Shards if that is more.
	// max_shards equal to shards keeps the count fixed.
	MaxShards int `yaml:"max_shards"`
	// Capacity is the number of samples buffered per shard.
	Capacity int `yaml:"capacity"`
	// MaxSamplesPerSend is the largest batch one request carries.
	MaxSamplesPerSend int `yaml:"max_samples_per_send"`
	// BatchSendDeadline is the longest a sample waits for its batch to fill.
	BatchSendDeadline model.Duration `yaml:"batch_send_deadline"`
	// MinBackoff and MaxBackoff bound the exponential backoff between retries.
	MinBackoff model.Duration `yaml:"min_backoff"`
	MaxBackoff model.Duration `yaml:"max_backoff"`
}

// defaultMaxShards is max_shards when it is not given (Prometheus' default).
const defaultMaxShards = 50

// shardBounds returns the fewest and most shards the count may take.
func (q *QueueConfig) shardBounds() (lo, hi int) {
	lo, hi = q.MinShards, q.MaxShards
	if lo == 0 {
		lo = q.Shards
	}
	if hi == 0 {
		hi = max(defaultMaxShards, q.Shards)
	}
	return lo, hi
}

// WALConfig bounds the write-ahead log on disk.
type WALConfig struct {
	// MaxAge drops segments whose data was written longer ago than this, sent or not.
	MaxAge model.Duration `yaml:"max_age"`
	// MaxSize drops the oldest segments, sent or not, while the segments take more than this.
	// The checkpoint (series records of live series) comes on top.
	MaxSize units.ByteSize `yaml:"max_size"`
	// TruncateFrequency is how often acknowledged segments are checkpointed and deleted and
	// the bounds above are enforced.
	TruncateFrequency model.Duration `yaml:"truncate_frequency"`
}

// DefaultEndpoint returns the values used for the keys of an endpoint the user leaves out.
func DefaultEndpoint() EndpointConfig {
	return EndpointConfig{
		RemoteTimeout:    model.Duration(30 * time.Second),
		HTTPClientConfig: config.DefaultHTTPClientConfig,
		ProtobufMessage:  protobufAuto,
		Queue: QueueConfig{
			Shards:            4,
			Capacity:          10000,
			MaxSamplesPerSend: 2000,
			BatchSendDeadline: model.Duration(5 * time.Second),
			MinBackoff:        model.Duration(30 * time.Millisecond),
			MaxBackoff:        model.Duration(5 * time.Second),
		},
		Metadata: MetadataConfig{
			Send:              true,
			SendInterval:      model.Duration(time.Minute),
			MaxSamplesPerSend: 2000,
		},
	}
}

// UnmarshalYAML fills the defaults, then decodes the keys written (so every element of
// endpoints gets them too). A list where one endpoint goes says to write endpoints. It uses
// the callback form understood by every YAML library the project uses.
func (e *EndpointConfig) UnmarshalYAML(unmarshal func(any) error) error {
	type plain EndpointConfig
	*e = DefaultEndpoint()
	if err := unmarshal((*plain)(e)); err != nil {
		if te, ok := err.(*yaml.TypeError); ok {
			// yaml.v3 reuses the slice behind te.Errors for the next call's errors.
			err = &yaml.TypeError{Errors: slices.Clone(te.Errors)}
		}
		var list []any
		if unmarshal(&list) == nil {
			return errors.New("one endpoint is a map (url: ...); for several receivers write endpoints: [...] instead of endpoint")
		}
		return err
	}
	return nil
}

// DefaultArguments returns the arguments used for keys the user leaves out.
func DefaultArguments() *Arguments {
	return &Arguments{
		Endpoint: DefaultEndpoint(),
		WAL: WALConfig{
			MaxAge:            model.Duration(4 * time.Hour),
			MaxSize:           1 << 30,
			TruncateFrequency: model.Duration(time.Minute),
		},
	}
}

// minWALSize keeps segments (an eighth of max_size, see segmentSize) at a sane size.
const minWALSize = 1 << 20

// endpoints returns the endpoints configured: Endpoint, or Endpoints when given.
func (a *Arguments) endpoints() []EndpointConfig {
	if len(a.Endpoints) > 0 {
		return a.Endpoints
	}
	return []EndpointConfig{a.Endpoint}
}

// name is the endpoint's metrics label and the key of its position in the WAL.
func (e *EndpointConfig) name() string {
	if e.Name != "" {
		return e.Name
	}
	return e.URL.Redacted()
}

// Validate implements pipeline.Arguments.
func (a *Arguments) Validate() error {
	var errs []error
	endpointGiven := !reflect.DeepEqual(a.Endpoint, DefaultEndpoint())
	switch {
	case len(a.Endpoints) > 0 && endpointGiven:
		errs = append(errs, pipeline.Field("endpoints", "give either endpoint (one receiver) or endpoints (a list of them), not both"))
	case len(a.Endpoints) == 0 && !endpointGiven:
		errs = append(errs, pipeline.Field("endpoint", "required: endpoint: {url: ...} for one receiver, or endpoints: [{url: ...}, ...] for several"))
	case len(a.Endpoints) == 0:
		errs = append(errs, pipeline.Nest("endpoint", a.Endpoint.Validate()))
	default:
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
	}
	for name, value := range a.ExternalLabels {
		if !model.UTF8Validation.IsValidLabelName(name) || name == model.MetricNameLabel {
			errs = append(errs, pipeline.Field("external_labels."+name, "invalid label name %q", name))
		}
		if value == "" {
			errs = append(errs, pipeline.Field("external_labels."+name, "empty value"))
		}
	}
	errs = append(errs, pipeline.Nest("wal", a.WAL.Validate()))
	return errors.Join(errs...)
}

// Validate checks the endpoint; field paths are relative to "endpoint".
func (e *EndpointConfig) Validate() error {
	errs := []error{httppush.ValidateURL(e.URL)}
	if e.RemoteTimeout <= 0 {
		errs = append(errs, pipeline.Field("remote_timeout", "must be positive, got %s", e.RemoteTimeout))
	}
	errs = append(errs, httppush.ValidateHeaders(e.Headers, []string{"X-Prometheus-Remote-Write-Version"}, ""))
	if err := e.HTTPClientConfig.Validate(); err != nil {
		errs = append(errs, err) // auth and TLS settings sit inline in endpoint
	}
	if _, _, err := parseProtobufMessage(e.ProtobufMessage); err != nil {
		errs = append(errs, pipeline.Field("protobuf_message", "%v", err))
	}
	if e.SigV4 != nil {
		errs = append(errs, pipeline.Nest("sigv4", e.SigV4.Validate()))
		if auth := e.otherAuth(); auth != "" {
			errs = append(errs, pipeline.Field("sigv4", "cannot be used with %s: give one way to authenticate", auth))
		}
	}
	errs = append(errs, pipeline.Nest("queue", e.Queue.Validate()))
	errs = append(errs, pipeline.Nest("metadata_config", e.Metadata.Validate()))
	errs = append(errs, targets.ValidateRules("write_relabel_configs", e.WriteRelabelConfigs))
	return errors.Join(errs...)
}

// Validate checks the metadata settings; field paths are relative to "metadata_config".
func (m *MetadataConfig) Validate() error {
	if !m.Send {
		return nil
	}
	var errs []error
	if m.SendInterval <= 0 {
		errs = append(errs, pipeline.Field("send_interval", "must be positive, got %s", m.SendInterval))
	}
	if m.MaxSamplesPerSend <= 0 {
		errs = append(errs, pipeline.Field("max_samples_per_send", "must be positive, got %d", m.MaxSamplesPerSend))
	}
	return errors.Join(errs...)
}

// Validate checks the queue; field paths are relative to "queue".
func (q *QueueConfig) Validate() error {
	var errs []error
	if q.Shards <= 0 || q.Shards > 1000 {
		errs = append(errs, pipeline.Field("shards", "must be between 1 and 1000, got %d", q.Shards))
	}
	if q.MinShards < 0 || q.MinShards > q.Shards {
		errs = append(errs, pipeline.Field("min_shards", "must be between 1 and shards (%d), or 0 for shards, got %d", q.Shards, q.MinShards))
	}
	if q.MaxShards != 0 && (q.MaxShards < q.Shards || q.MaxShards > 1000) {
		errs = append(errs, pipeline.Field("max_shards", "must be between shards (%d) and 1000, or 0 for the default, got %d", q.Shards, q.MaxShards))
	}
	if q.Capacity <= 0 {
		errs = append(errs, pipeline.Field("capacity", "must be positive, got %d", q.Capacity))
	}
	if q.MaxSamplesPerSend <= 0 {
		errs = append(errs, pipeline.Field("max_samples_per_send", "must be positive, got %d", q.MaxSamplesPerSend))
	}
	if q.BatchSendDeadline <= 0 {
		errs = append(errs, pipeline.Field("batch_send_deadline", "must be positive, got %s", q.BatchSendDeadline))
	}
	if q.MinBackoff <= 0 {
		errs = append(errs, pipeline.Field("min_backoff", "must be positive, got %s", q.MinBackoff))
	}
	if q.MaxBackoff < q.MinBackoff {
		errs = append(errs, pipeline.Field("max_backoff", "must not be below min_backoff (%s), got %s", q.MinBackoff, q.MaxBackoff))
	}
	return errors.Join(errs...)
}

// Validate checks the WAL bounds; field paths are relative to "wal".
func (w *WALConfig) Validate() error {
	var errs []error
	if w.MaxAge <= 0 {
		errs = append(errs, pipeline.Field("max_age", "must be positive, got %s", w.MaxAge))
	}
	if w.MaxSize < minWALSize {
		errs = append(errs, pipeline.Field("max_size", "must be at least %s, got %s", units.ByteSize(minWALSize), w.MaxSize))
	}
	if w.TruncateFrequency <= 0 {
		errs = append(errs, pipeline.Field("truncate_frequency", "must be positive, got %s", w.TruncateFrequency))
	}
	return errors.Join(errs...)
}
