package remotewrite

import (
	"net/url"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/sondehq/sonde/internal/units"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

func validArgs(t *testing.T) *Arguments {
	return testArgs(t, "http://127.0.0.1:9090/api/v1/write")
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(a *Arguments)
		fields []string
	}{
		{"defaults with url", func(a *Arguments) {}, nil},
		{"no url", func(a *Arguments) { a.Endpoint.URL = config.URL{} }, []string{"endpoint.url"}},
		{"relative url", func(a *Arguments) { a.Endpoint.URL = config.URL{URL: &url.URL{Path: "/api/v1/write"}} }, []string{"endpoint.url"}},
		{"ftp url", func(a *Arguments) { a.Endpoint.URL = config.URL{URL: &url.URL{Scheme: "ftp", Host: "x"}} }, []string{"endpoint.url"}},
		{"no host", func(a *Arguments) { a.Endpoint.URL = config.URL{URL: &url.URL{Scheme: "http", Path: "/w"}} }, []string{"endpoint.url"}},
		{"timeout", func(a *Arguments) { a.Endpoint.RemoteTimeout = 0 }, []string{"endpoint.remote_timeout"}},
		{"shards", func(a *Arguments) { a.Endpoint.Queue.Shards = 0 }, []string{"endpoint.queue.shards"}},
		{"capacity", func(a *Arguments) { a.Endpoint.Queue.Capacity = -1 }, []string{"endpoint.queue.capacity"}},
		{"max samples", func(a *Arguments) { a.Endpoint.Queue.MaxSamplesPerSend = 0 }, []string{"endpoint.queue.max_samples_per_send"}},
		{"deadline", func(a *Arguments) { a.Endpoint.Queue.BatchSendDeadline = 0 }, []string{"endpoint.queue.batch_send_deadline"}},
		{"backoff order", func(a *Arguments) {
			a.Endpoint.Queue.MinBackoff = model.Duration(time.Second)
			a.Endpoint.Queue.MaxBackoff = model.Duration(time.Millisecond)
		}, []string{"endpoint.queue.max_backoff"}},
		{"min backoff", func(a *Arguments) { a.Endpoint.Queue.MinBackoff = 0 }, []string{"endpoint.queue.min_backoff"}},
		{"header name", func(a *Arguments) { a.Endpoint.Headers = map[string]string{"Bad Header": "x"} }, []string{"endpoint.headers.Bad Header"}},
		{"reserved header", func(a *Arguments) { a.Endpoint.Headers = map[string]string{"content-type": "x"} }, []string{"endpoint.headers.content-type"}},
		{"header value", func(a *Arguments) { a.Endpoint.Headers = map[string]string{"X-A": "a\nb"} }, []string{"endpoint.headers.X-A"}},
		{"http client", func(a *Arguments) {
			a.Endpoint.HTTPClientConfig.BearerToken = "t"
			a.Endpoint.HTTPClientConfig.BasicAuth = &config.BasicAuth{Username: "u"}
		}, []string{"endpoint"}},
		{"protobuf message", func(a *Arguments) { a.Endpoint.ProtobufMessage = "v2" }, []string{"endpoint.protobuf_message"}},
		{"protobuf message 1.0", func(a *Arguments) { a.Endpoint.ProtobufMessage = protobufV1 }, nil},
		{"protobuf message 2.0", func(a *Arguments) { a.Endpoint.ProtobufMessage = protobufV2 }, nil},
		{"sigv4", func(a *Arguments) { a.Endpoint.SigV4 = &SigV4Config{Region: "eu-west-1"} }, nil},
		{"sigv4 and basic auth", func(a *Arguments) {
			a.Endpoint.SigV4 = &SigV4Config{Region: "eu-west-1"}
			a.Endpoint.HTTPClientConfig.BasicAuth = &config.BasicAuth{Username: "u", Password: "p"}
		}, []string{"endpoint.sigv4"}},
		{"sigv4 and oauth2", func(a *Arguments) {
			a.Endpoint.SigV4 = &SigV4Config{Region: "eu-west-1"}
			a.Endpoint.HTTPClientConfig.OAuth2 = &config.OAuth2{ClientID: "c", ClientSecret: "s", TokenURL: "http://127.0.0.1/token"}
		}, []string{"endpoint.sigv4"}},
		{"sigv4 key without secret", func(a *Arguments) { a.Endpoint.SigV4 = &SigV4Config{AccessKey: "AKID"} }, []string{"endpoint.sigv4.access_key"}},
		{"metadata interval", func(a *Arguments) { a.Endpoint.Metadata.SendInterval = 0 }, []string{"endpoint.metadata_config.send_interval"}},
		{"metadata batch", func(a *Arguments) { a.Endpoint.Metadata.MaxSamplesPerSend = -1 }, []string{"endpoint.metadata_config.max_samples_per_send"}},
		{"metadata off", func(a *Arguments) { a.Endpoint.Metadata = MetadataConfig{Send: false} }, nil},
		{"external label name", func(a *Arguments) { a.ExternalLabels = map[string]string{"__name__": "x"} }, []string{"external_labels.__name__"}},
		{"external label value", func(a *Arguments) { a.ExternalLabels = map[string]string{"cluster": ""} }, []string{"external_labels.cluster"}},
		{"wal age", func(a *Arguments) { a.WAL.MaxAge = 0 }, []string{"wal.max_age"}},
		{"wal size", func(a *Arguments) { a.WAL.MaxSize = 1000 }, []string{"wal.max_size"}},
		{"wal truncate", func(a *Arguments) { a.WAL.TruncateFrequency = 0 }, []string{"wal.truncate_frequency"}},
		{"several", func(a *Arguments) {
			a.Endpoint.Queue.Shards = 0
			a.WAL.MaxAge = 0
		}, []string{"endpoint.queue.shards", "wal.max_age"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := validArgs(t)
			tc.mutate(a)
			fields := pipelinetest.FieldsOf(a.Validate())
			sort.Strings(fields)
			require.Equal(t, tc.fields, fields)
		})
	}
}

func TestDecodeYAML(t *testing.T) {
	const doc = `
endpoint:
  url: https://user:pass@mimir.example/api/v1/push
  remote_timeout: 10s
  headers: {X-Scope-OrgID: team-a}
  basic_auth: {username: u, password: p}
  tls_config: {insecure_skip_verify: true}
  queue:
    shards: 8
    capacity: 5000
    max_samples_per_send: 1000
    batch_send_deadline: 2s
    min_backoff: 50ms
    max_backoff: 10s
external_labels: {cluster: prod}
wal:
  max_age: 2h
  max_size: 512MiB
  truncate_frequency: 30s
`
	a := DefaultArguments()
	var n yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte(doc), &n))
	require.NoError(t, n.Content[0].Decode(a))
	require.NoError(t, a.Validate())
	require.Equal(t, "mimir.example", a.Endpoint.URL.Host)
	require.Equal(t, model.Duration(10*time.Second), a.Endpoint.RemoteTimeout)
	require.Equal(t, "team-a", a.Endpoint.Headers["X-Scope-OrgID"])
	require.Equal(t, config.Secret("p"), a.Endpoint.HTTPClientConfig.BasicAuth.Password)
	require.True(t, a.Endpoint.HTTPClientConfig.TLSConfig.InsecureSkipVerify)
	require.True(t, a.Endpoint.HTTPClientConfig.FollowRedirects, "defaults kept")
	require.Equal(t, QueueConfig{
		Shards: 8, Capacity: 5000, MaxSamplesPerSend: 1000,
		BatchSendDeadline: model.Duration(2 * time.Second),
		MinBackoff:        model.Duration(50 * time.Millisecond), MaxBackoff: model.Duration(10 * time.Second),
	}, a.Endpoint.Queue)
	require.Equal(t, WALConfig{
		MaxAge: model.Duration(2 * time.Hour), MaxSize: 512 << 20, TruncateFrequency: model.Duration(30 * time.Second),
	}, a.WAL)

	// Printing the arguments hides secrets.
	out, err := yaml.Marshal(a)
	require.NoError(t, err)
	require.NotContains(t, string(out), "pass@")
	require.Contains(t, string(out), "password: <secret>")
	require.Contains(t, string(out), "max_size: 512MiB")
}

func TestDefaultsNeedOnlyURL(t *testing.T) {
	a := DefaultArguments()
	var n yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte("endpoint: {url: http://127.0.0.1:9090/api/v1/write}"), &n))
	require.NoError(t, n.Content[0].Decode(a))
	require.NoError(t, a.Validate())
	d := DefaultArguments()
	require.Equal(t, d.Endpoint.Queue, a.Endpoint.Queue)
	require.Equal(t, d.WAL, a.WAL)
	require.Equal(t, units.ByteSize(1<<30), a.WAL.MaxSize)
}

func TestSegmentSize(t *testing.T) {
	require.Equal(t, 128<<20, segmentSize(1<<30))
	require.Equal(t, 64<<20, segmentSize(512<<20))
	require.Equal(t, 128<<10, segmentSize(minWALSize))
	require.Equal(t, 128<<20, segmentSize(1<<40))
	require.Zero(t, segmentSize(100<<20)%(32<<10))
}
