// Package kafka implements otelcol.exporter.kafka: spans, metric points and log records
// written to Kafka topics as OTLP (protobuf or JSON), modelled on the OpenTelemetry
// collector's kafkaexporter (its topic names, encodings, partitioning keys and defaults).
//
// Delivery follows the other OTLP exporters (exporters/otelcol/internal/base): a bounded
// sending queue (optionally on disk), retries with backoff, drops counted by reason. A
// request counts as sent only once every one of its messages was acknowledged by all
// in-sync replicas (acks=all). The producer is idempotent, so its own retries never write
// a message twice; a request that fails anyway is retried for its failed messages only.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/sondehq/sonde/exporters/otelcol/internal/base"
	"github.com/sondehq/sonde/pipeline"
)

// Registration declares otelcol.exporter.kafka.
var Registration = pipeline.Register("otelcol.exporter.kafka", DefaultArguments, New, base.Exports...)

// New builds the component; the Kafka client is made in Run.
func New(opts pipeline.Options, args *Arguments) (*base.Component, error) {
	k := &kafka{
		args:    args,
		logger:  opts.Logger,
		metrics: newMetrics(),
	}
	k.traces = tracesCodec(args.Traces.Encoding, args.PartitionTracesByID)
	k.metricsC = metricsCodec(args.Metrics.Encoding, args.PartitionMetricsByResourceAttributes)
	k.logs = logsCodec(args.Logs.Encoding, args.PartitionLogsByResourceAttributes)
	k.metrics.buffered = func() int64 {
		if cl := k.client.Load(); cl != nil {
			return cl.BufferedProduceRecords()
		}
		return 0
	}
	if err := pipeline.RegisterAll(opts.Registerer, k.metrics.collectors()...); err != nil {
		return nil, err
	}
	q, r, t := args.Common.Config()
	cfg := &collectorConfig{Queue: q, Retry: r, Timeout: t}
	return base.New(opts, k.factory(), cfg, args.SendingQueue.Persistent)
}

// collectorConfig is the exporter helper's part of the configuration.
type collectorConfig struct {
	Queue   configoptional.Optional[exporterhelper.QueueBatchConfig]
	Retry   configretry.BackOffConfig
	Timeout exporterhelper.TimeoutConfig
}

// kafka is the state the three signals' exporters share: one Kafka client, made when the
// first of them starts and closed when the last one stops.
type kafka struct {
	args     *Arguments
	logger   *slog.Logger
	metrics  *metrics
	traces   *codec[ptrace.Traces]
	metricsC *codec[pmetric.Metrics]
	logs     *codec[plog.Logs]

	mu      sync.Mutex // guards users and closing the client
	users   int
	client  atomic.Pointer[kgo.Client]
	closeFn func()
}

var kafkaType = component.MustNewType("kafka")

// factory makes the collector exporters base.Component runs: the exporter helper's queue,
// retries and timeout around the push functions below.
func (k *kafka) factory() exporter.Factory {
	options := func(cfg component.Config) []exporterhelper.Option {
		c := cfg.(*collectorConfig)
		return []exporterhelper.Option{
			exporterhelper.WithQueue(c.Queue),
			exporterhelper.WithRetry(c.Retry),
			exporterhelper.WithTimeout(c.Timeout),
		}
	}
	return exporter.NewFactory(kafkaType,
		func() component.Config { return &collectorConfig{} },
		exporter.WithTraces(func(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Traces, error) {
			u := k.user()
			e, err := exporterhelper.NewTraces(ctx, set, cfg, func(ctx context.Context, td ptrace.Traces) error {
				return push(ctx, k, k.traces, k.args.Traces.Topic, td)
			}, append(options(cfg), exporterhelper.WithStart(u.start), exporterhelper.WithShutdown(u.shutdown))...)
			if err != nil {
				return nil, err
			}
			return tracesExporter{e, u}, nil
		}, component.StabilityLevelBeta),
		exporter.WithMetrics(func(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
			u := k.user()
			e, err := exporterhelper.NewMetrics(ctx, set, cfg, func(ctx context.Context, md pmetric.Metrics) error {
				return push(ctx, k, k.metricsC, k.args.Metrics.Topic, md)
			}, append(options(cfg), exporterhelper.WithStart(u.start), exporterhelper.WithShutdown(u.shutdown))...)
			if err != nil {
				return nil, err
			}
			return metricsExporter{e, u}, nil
		}, component.StabilityLevelBeta),
		exporter.WithLogs(func(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
			u := k.user()
			e, err := exporterhelper.NewLogs(ctx, set, cfg, func(ctx context.Context, ld plog.Logs) error {
				return push(ctx, k, k.logs, k.args.Logs.Topic, ld)
			}, append(options(cfg), exporterhelper.WithStart(u.start), exporterhelper.WithShutdown(u.shutdown))...)
			if err != nil {
				return nil, err
			}
			return logsExporter{e, u}, nil
		}, component.StabilityLevelBeta),
	)
}

// The exporters abort what the client still sends once their shutdown context ends: the
// exporter helper drains its queue before it calls the shutdown function, and a produce
// under way waits for Kafka, so without this a dead cluster would hold the stop past its
// deadline.
type (
	tracesExporter struct {
		exporter.Traces
		u *user
	}
	metricsExporter struct {
		exporter.Metrics
		u *user
	}
	logsExporter struct {
		exporter.Logs
		u *user
	}
)

func (e tracesExporter) Shutdown(ctx context.Context) error {
	defer context.AfterFunc(ctx, e.u.k.abort)()
	return e.Traces.Shutdown(ctx)
}

func (e metricsExporter) Shutdown(ctx context.Context) error {
	defer context.AfterFunc(ctx, e.u.k.abort)()
	return e.Metrics.Shutdown(ctx)
}

func (e logsExporter) Shutdown(ctx context.Context) error {
	defer context.AfterFunc(ctx, e.u.k.abort)()
	return e.Logs.Shutdown(ctx)
}

// user is one signal's exporter's hold on the shared client.
type user struct {
	k       *kafka
	started bool // guarded by k.mu
}

func (k *kafka) user() *user { return &user{k: k} }

// start makes the client when the first exporter starts. It does not connect: the client
// connects when it first produces, so a cluster that is down does not fail the start.
func (u *user) start(context.Context, component.Host) error {
	k := u.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if u.started {
		return nil
	}
	if k.users == 0 {
		opts, err := k.clientOptions()
		if err != nil {
			return err
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return fmt.Errorf("kafka client: %w", err)
		}
		k.client.Store(cl)
		k.closeFn = sync.OnceFunc(cl.Close)
		k.logger.Info("Kafka producer started", "brokers", strings.Join(k.args.Brokers, ","))
	}
	k.users++
	u.started = true
	return nil
}

// shutdown closes the client when the last exporter stops; safe without start and twice.
func (u *user) shutdown(context.Context) error {
	k := u.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if !u.started {
		return nil
	}
	u.started = false
	k.users--
	if k.users == 0 {
		k.closeFn()
		k.client.Store(nil)
	}
	return nil
}

// abort closes the client, failing every produce under way (ErrClientClosed).
func (k *kafka) abort() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closeFn != nil {
		k.closeFn()
	}
}

// clientOptions are the franz-go settings: acks from all in-sync replicas (stated here
// although it is franz-go's default) and the idempotent producer (franz-go's default, never
// disabled here; TestBrokerFaultsRetriedExactlyOnce fails without it).
func (k *kafka) clientOptions() ([]kgo.Opt, error) {
	a := k.args
	p := &a.Producer
	opts := []kgo.Opt{
		kgo.SeedBrokers(a.Brokers...),
		kgo.ClientID(a.ClientID),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchMaxBytes(int32(p.MaxMessageBytes) + batchOverhead),
		kgo.ProducerLinger(time.Duration(p.Linger)),
		// A record that waits longer than one export attempt (franz-go's floor: 1s) fails
		// when it is safe to fail it without breaking the idempotent sequence, and the
		// exporter helper retries it.
		kgo.RecordDeliveryTimeout(max(time.Duration(a.Timeout), time.Second) + time.Duration(p.Linger)),
		kgo.WithLogger(logger{k.logger}),
		kgo.MetadataMinAge(metadataMinAge),
	}
	switch p.Compression {
	case "gzip":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.GzipCompression()))
	case "snappy":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.SnappyCompression()))
	case "lz4":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.Lz4Compression()))
	case "zstd":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	default:
		opts = append(opts, kgo.ProducerBatchCompression(kgo.NoCompression()))
	}
	if p.AllowAutoTopicCreation {
		opts = append(opts, kgo.AllowAutoTopicCreation())
	}
	if s := a.Auth.SASL; s != nil {
		switch s.Mechanism {
		case "PLAIN":
			opts = append(opts, kgo.SASL(plain.Auth{User: s.Username, Pass: string(s.Password)}.AsMechanism()))
		case "SCRAM-SHA-256":
			opts = append(opts, kgo.SASL(scram.Auth{User: s.Username, Pass: string(s.Password)}.AsSha256Mechanism()))
		case "SCRAM-SHA-512":
			opts = append(opts, kgo.SASL(scram.Auth{User: s.Username, Pass: string(s.Password)}.AsSha512Mechanism()))
		}
	}
	tc, err := a.TLS.config()
	if err != nil {
		return nil, err
	}
	if tc != nil {
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	return opts, nil
}

// metadataMinAge is how often at most the client refreshes the cluster's metadata, as when
// a broker answers NOT_LEADER_FOR_PARTITION: franz-go's default; the tests shorten it.
var metadataMinAge = 5 * time.Second

// batchOverhead is what a record batch adds to its one record's key and value: the batch
// header (61 bytes) and the record's own framing.
const batchOverhead = 128

// push writes data as messages to topic (or the topics its resources name, with
// topic_from_attribute) and waits for Kafka's acknowledgement of each. Messages that failed
// with a retryable error are returned (consumererror.NewTraces…) for the exporter helper to
// retry, alone; those Kafka refused for good are dropped and counted, as are single items
// larger than max_message_bytes.
func push[T any](ctx context.Context, k *kafka, c *codec[T], topic string, data T) error {
	limit := int(k.args.Producer.MaxMessageBytes)
	topics := []topicPart[T]{{topic: topic, data: data}}
	if attr := k.args.TopicFromAttribute; attr != "" {
		topics = c.byTopic(data, attr, topic)
	}
	var (
		msgs     []message[T]
		tooLarge int
	)
	for _, tp := range topics {
		for _, p := range c.parts(tp.data) {
			from := len(msgs)
			var (
				n   int
				err error
			)
			msgs, n, err = c.encode(p.data, p.key, limit, msgs)
			if err != nil {
				return fmt.Errorf("encode %s: %w", c.signal, err)
			}
			tooLarge += n
			for i := from; i < len(msgs); i++ {
				msgs[i].topic = tp.topic
			}
		}
	}
	if tooLarge > 0 {
		k.metrics.dropped.WithLabelValues(c.signal, "message_too_large").Add(float64(tooLarge))
	}
	if len(msgs) == 0 {
		return nil
	}
	cl := k.client.Load()
	if cl == nil {
		return errors.New("kafka client is not running")
	}
	errs := make([]error, len(msgs))
	var wg sync.WaitGroup
	wg.Add(len(msgs))
	for i := range msgs {
		m := &msgs[i]
		cl.Produce(ctx, &kgo.Record{Topic: m.topic, Key: m.key, Value: m.value}, func(_ *kgo.Record, err error) {
			errs[i] = err
			wg.Done()
		})
	}
	wg.Wait()

	var (
		retry             []*message[T]
		retryErr, permErr error
		rejected, okCount int
	)
	for i, err := range errs {
		m := &msgs[i]
		if err == nil {
			okCount++
			k.metrics.produced(m.topic, len(m.key)+len(m.value))
			continue
		}
		reason, retryable := classify(err)
		k.metrics.failed.WithLabelValues(m.topic, reason).Inc()
		if retryable {
			retry = append(retry, m)
			retryErr = cmpOr(retryErr, fmt.Errorf("produce to %s: %w", m.topic, err))
		} else {
			rejected += m.items
			permErr = cmpOr(permErr, fmt.Errorf("produce to %s: %w", m.topic, err))
		}
	}
	switch {
	case retryErr == nil && permErr == nil:
		return nil
	case retryErr == nil && okCount == 0 && tooLarge == 0:
		// Nothing of the request was written: the exporter helper counts it dropped.
		return consumererror.NewPermanent(permErr)
	}
	if rejected > 0 {
		k.metrics.dropped.WithLabelValues(c.signal, "rejected").Add(float64(rejected))
		k.logger.Warn("Kafka refused messages for good; they are dropped", "signal", c.signal, "items", rejected, "err", permErr)
	}
	if retryErr == nil {
		return nil
	}
	return c.retryErr(retryErr, c.merge(retry))
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// classify names a produce error for the failures metric and tells whether producing again
// may succeed: Kafka's retriable codes, timeouts and a closed client are; Kafka's other
// codes (message too large, authorization or authentication failed, invalid topic…) are
// not.
func classify(err error) (reason string, retryable bool) {
	var ke *kerr.Error
	switch {
	case errors.As(err, &ke):
		return strings.ToLower(ke.Message), ke.Retriable
	case errors.Is(err, kgo.ErrRecordTimeout), errors.Is(err, context.DeadlineExceeded):
		return "timeout", true
	case errors.Is(err, kgo.ErrRecordRetries):
		return "retries_exhausted", true
	case errors.Is(err, kgo.ErrClientClosed), errors.Is(err, context.Canceled):
		return "canceled", true
	case errors.Is(err, kgo.ErrMaxBuffered):
		return "max_buffered", true
	}
	return "other", true
}

// logger passes franz-go's warnings and errors to the component's logger.
type logger struct{ l *slog.Logger }

func (l logger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (l logger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lv := slog.LevelWarn
	if level == kgo.LogLevelError {
		lv = slog.LevelError
	}
	l.l.Log(context.Background(), lv, "Kafka client", append([]any{"event", msg}, keyvals...)...)
}

var _ consumer.Traces = tracesExporter{}
