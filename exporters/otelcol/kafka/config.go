package kafka

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/sondehq/sonde/exporters/otelcol/internal/base"
	"github.com/sondehq/sonde/internal/units"
	"github.com/sondehq/sonde/pipeline"
)

// Arguments configure otelcol.exporter.kafka. Names and defaults follow the OpenTelemetry
// collector's kafkaexporter.
//
//	otelcol.exporter.kafka/stream:
//	  brokers: [kafka-0.kafka:9092, kafka-1.kafka:9092]
//	  traces: {topic: otlp_spans, encoding: otlp_proto}
//	  partition_traces_by_id: true
//	  auth:
//	    sasl:
//	      mechanism: SCRAM-SHA-512
//	      username: sonde
//	      password: ${KAFKA_PASSWORD}
//	  tls: {enabled: true, ca_file: /etc/kafka/ca.pem}
type Arguments struct {
	// Brokers are the seed brokers, host:port; the client discovers the rest of the
	// cluster from them.
	Brokers []string `yaml:"brokers"`
	// ClientID names this client to the brokers (their logs, quotas and ACLs).
	ClientID string `yaml:"client_id"`
	// Traces say where and how spans are written.
	Traces Signal `yaml:"traces"`
	// Metrics say where and how metric points are written.
	Metrics Signal `yaml:"metrics"`
	// Logs say where and how log records are written.
	Logs Signal `yaml:"logs"`
	// TopicFromAttribute names a resource attribute whose value, where a resource has it,
	// is the topic of that resource's messages (one topic per tenant or team); resources
	// without it go to the signal's topic. The per-topic metrics get one series per topic.
	TopicFromAttribute string `yaml:"topic_from_attribute"`
	// PartitionTracesByID splits every request by trace and keys each message with its
	// trace id (32 hex digits), so all the spans of a trace land on one partition, in order.
	PartitionTracesByID bool `yaml:"partition_traces_by_id"`
	// PartitionMetricsByResourceAttributes writes one message per resource, keyed with a
	// hash of its sorted attributes, so a resource's points land on one partition.
	PartitionMetricsByResourceAttributes bool `yaml:"partition_metrics_by_resource_attributes"`
	// PartitionLogsByResourceAttributes writes one message per resource, keyed with a hash
	// of its sorted attributes, so a resource's records land on one partition.
	PartitionLogsByResourceAttributes bool `yaml:"partition_logs_by_resource_attributes"`
	// Producer tunes the Kafka producer. It always asks for acks from all in-sync replicas
	// (acks=all) and is idempotent, so its own retries never duplicate a message.
	Producer Producer `yaml:"producer"`
	// Auth authenticates to the brokers (SASL); none by default.
	Auth Auth `yaml:"auth"`
	// TLS encrypts the connections to the brokers; plain text by default.
	TLS TLS `yaml:"tls"`
	// Timeout, sending queue and retries, as for otelcol.exporter.otlp: a request is retried
	// only on retryable Kafka errors, and only its messages that failed.
	base.Common `yaml:",inline"`
}

// Signal configures one signal's messages.
type Signal struct {
	// Topic receives the signal's messages.
	Topic string `yaml:"topic"`
	// Encoding is otlp_proto (an OTLP Export*ServiceRequest in protobuf) or otlp_json (the
	// same in OTLP JSON).
	Encoding string `yaml:"encoding"`
}

// Producer tunes the Kafka producer.
type Producer struct {
	// MaxMessageBytes bounds one message (key and value, before compression). A request
	// that would make a larger message is split by resource, then by scope, then in halves;
	// a single span, metric or log record that is still too large is dropped and counted
	// (reason message_too_large). Keep it below the topic's max.message.bytes.
	MaxMessageBytes units.ByteSize `yaml:"max_message_bytes"`
	// Compression of the record batches: none, gzip, snappy, lz4 or zstd.
	Compression string `yaml:"compression"`
	// Linger is how long a partition waits for more messages before it sends a batch.
	Linger model.Duration `yaml:"linger"`
	// AllowAutoTopicCreation lets the brokers create a missing topic (with their default
	// partitions and replication) when they allow it themselves.
	AllowAutoTopicCreation bool `yaml:"allow_auto_topic_creation"`
}

// Auth authenticates to the brokers.
type Auth struct {
	// SASL authenticates with a user name and password.
	SASL *SASL `yaml:"sasl,omitempty"`
}

// SASL is SASL/PLAIN or SASL/SCRAM authentication.
type SASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512. PLAIN sends the password as is:
	// use it with TLS.
	Mechanism string `yaml:"mechanism"`
	// Username is the SASL user.
	Username string `yaml:"username"`
	// Password is the SASL password (a secret, never shown).
	Password config.Secret `yaml:"password"`
}

// TLS configures TLS to the brokers.
type TLS struct {
	// Enabled turns TLS on; the other fields need it.
	Enabled bool `yaml:"enabled"`
	// CAFile verifies the brokers' certificates; the system roots when empty.
	CAFile string `yaml:"ca_file,omitempty"`
	// CertFile and KeyFile are the client certificate for mTLS.
	CertFile string `yaml:"cert_file,omitempty"`
	// KeyFile is the client certificate's key.
	KeyFile string `yaml:"key_file,omitempty"`
	// ServerName overrides the name the certificates are checked against.
	ServerName string `yaml:"server_name,omitempty"`
	// InsecureSkipVerify accepts any broker certificate.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify,omitempty"`
	// MinVersion is "1.2" (default) or "1.3".
	MinVersion string `yaml:"min_version,omitempty"`
}

// DefaultArguments returns the kafkaexporter's defaults.
func DefaultArguments() *Arguments {
	return &Arguments{
		Brokers:  []string{"localhost:9092"},
		ClientID: "sonde",
		Traces:   Signal{Topic: "otlp_spans", Encoding: "otlp_proto"},
		Metrics:  Signal{Topic: "otlp_metrics", Encoding: "otlp_proto"},
		Logs:     Signal{Topic: "otlp_logs", Encoding: "otlp_proto"},
		Producer: Producer{
			MaxMessageBytes:        1000000,
			Compression:            "none",
			Linger:                 model.Duration(10 * time.Millisecond),
			AllowAutoTopicCreation: true,
		},
		Common: base.DefaultCommon(5 * time.Second),
	}
}

// maxMessageBytesLimit is the most max_message_bytes may be: what a Kafka batch can carry.
const maxMessageBytesLimit = 1 << 30

// Validate implements pipeline.Arguments.
func (a *Arguments) Validate() error {
	var errs []error
	if len(a.Brokers) == 0 {
		errs = append(errs, pipeline.Field("brokers", "at least one broker is required"))
	}
	for i, b := range a.Brokers {
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			errs = append(errs, pipeline.Field(fmt.Sprintf("brokers[%d]", i), "%q: want host:port", b))
		}
	}
	if a.ClientID == "" {
		errs = append(errs, pipeline.Field("client_id", "required"))
	}
	errs = append(errs, pipeline.Nest("traces", a.Traces.validate()))
	errs = append(errs, pipeline.Nest("metrics", a.Metrics.validate()))
	errs = append(errs, pipeline.Nest("logs", a.Logs.validate()))
	errs = append(errs, pipeline.Nest("producer", a.Producer.validate()))
	if s := a.Auth.SASL; s != nil {
		errs = append(errs, pipeline.Nest("auth.sasl", s.validate()))
	}
	errs = append(errs, pipeline.Nest("tls", a.TLS.validate()))
	errs = append(errs, a.Common.Validate())
	return errors.Join(errs...)
}

func (s *Signal) validate() error {
	var errs []error
	if err := validateTopic(s.Topic); err != nil {
		errs = append(errs, pipeline.Field("topic", "%q: %v", s.Topic, err))
	}
	if _, ok := encodings[s.Encoding]; !ok {
		errs = append(errs, pipeline.Field("encoding", "must be otlp_proto or otlp_json, got %q", s.Encoding))
	}
	return errors.Join(errs...)
}

// validateTopic applies Kafka's rules for topic names.
func validateTopic(t string) error {
	switch {
	case t == "":
		return errors.New("required")
	case t == "." || t == "..":
		return errors.New("not a valid topic name")
	case len(t) > 249:
		return errors.New("longer than 249 characters")
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("%q is not allowed (letters, digits, '.', '_' and '-' only)", r)
		}
	}
	return nil
}

func (p *Producer) validate() error {
	var errs []error
	if p.MaxMessageBytes < 1024 || p.MaxMessageBytes > maxMessageBytesLimit {
		errs = append(errs, pipeline.Field("max_message_bytes", "must be between 1KiB and 1GiB, got %s", p.MaxMessageBytes))
	}
	if _, ok := compressions[p.Compression]; !ok {
		errs = append(errs, pipeline.Field("compression", "must be none, gzip, snappy, lz4 or zstd, got %q", p.Compression))
	}
	if p.Linger < 0 {
		errs = append(errs, pipeline.Field("linger", "must not be negative"))
	}
	return errors.Join(errs...)
}

func (s *SASL) validate() error {
	var errs []error
	switch s.Mechanism {
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		errs = append(errs, pipeline.Field("mechanism", "must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, got %q", s.Mechanism))
	}
	if s.Username == "" {
		errs = append(errs, pipeline.Field("username", "required"))
	}
	if s.Password == "" {
		errs = append(errs, pipeline.Field("password", "required"))
	}
	return errors.Join(errs...)
}

func (t *TLS) validate() error {
	var errs []error
	if !t.Enabled {
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"ca_file", t.CAFile != ""}, {"cert_file", t.CertFile != ""}, {"key_file", t.KeyFile != ""},
			{"server_name", t.ServerName != ""}, {"insecure_skip_verify", t.InsecureSkipVerify}, {"min_version", t.MinVersion != ""},
		} {
			if f.set {
				errs = append(errs, pipeline.Field(f.name, "is set but TLS is off: set tls.enabled: true"))
			}
		}
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, pipeline.Field("cert_file", "cert_file and key_file go together"))
	}
	switch t.MinVersion {
	case "", "1.2", "1.3":
	default:
		errs = append(errs, pipeline.Field("min_version", "must be 1.2 or 1.3, got %q", t.MinVersion))
	}
	return errors.Join(errs...)
}

// config returns the crypto/tls configuration; nil when TLS is off. It reads the files.
func (t *TLS) config() (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	c := config.TLSConfig{
		CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile,
		ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify,
		MinVersion: tls.VersionTLS12,
	}
	if t.MinVersion == "1.3" {
		c.MinVersion = tls.VersionTLS13
	}
	out, err := config.NewTLSConfig(&c)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return out, nil
}
