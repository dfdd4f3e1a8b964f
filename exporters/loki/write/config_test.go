package write

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/sondehq/sonde/config"
	"github.com/sondehq/sonde/internal/units"
	"github.com/sondehq/sonde/pipeline"
)

// sourceRegistration is a logs source for graphs under test.
var sourceRegistration = pipeline.Registration{
	Type: "test.source",
	Args: func() pipeline.Arguments { return &sourceArgs{} },
	New: func(pipeline.Options, pipeline.Arguments) (pipeline.Component, error) {
		return nopComponent{}, nil
	},
}

type sourceArgs struct {
	ForwardTo []string `yaml:"forward_to"`
}

func (*sourceArgs) Validate() error { return nil }

func (a *sourceArgs) References() []pipeline.Reference {
	return []pipeline.Reference{{Field: "forward_to", Kind: pipeline.KindLogs, IDs: a.ForwardTo}}
}

type nopComponent struct{}

func (nopComponent) Run(ctx context.Context) error { <-ctx.Done(); return nil }

// parse loads a configuration holding loki.write/w with the given body (indented by 4),
// through the real loader.
func parse(t *testing.T, body string) (*Arguments, error) {
	t.Helper()
	reg, err := pipeline.NewRegistry(Registration, sourceRegistration)
	require.NoError(t, err)
	doc := "components:\n  test.source/in: {forward_to: [loki.write/w]}\n  loki.write/w:\n" + body
	f, err := config.Parse("test.yaml", []byte(doc), reg, func(string) (string, bool) { return "", false })
	if err != nil {
		return nil, err
	}
	for _, s := range f.Specs {
		if a, ok := s.Args.(*Arguments); ok {
			return a, nil
		}
	}
	t.Fatal("no loki.write in the parsed configuration")
	return nil, nil
}

func TestDefaults(t *testing.T) {
	a, err := parse(t, "    endpoints:\n      - url: http://loki:3100/loki/api/v1/push\n      - url: http://other:3100/loki/api/v1/push\n        batch_size: 512KiB\n        bearer_token: s3cret\n")
	require.NoError(t, err)
	require.Len(t, a.Endpoints, 2)
	d := a.Endpoints[0]
	require.Equal(t, units.ByteSize(1<<20), d.BatchSize)
	require.Equal(t, model.Duration(time.Second), d.BatchWait)
	require.Equal(t, model.Duration(500*time.Millisecond), d.MinBackoff)
	require.Equal(t, model.Duration(5*time.Minute), d.MaxBackoff)
	require.Equal(t, model.Duration(10*time.Second), d.Timeout)
	require.True(t, d.RetryOnHTTP429)
	require.Equal(t, units.ByteSize(10<<20), d.QueueConfig.Capacity)
	require.Equal(t, model.Duration(15*time.Second), d.QueueConfig.DrainTimeout)
	require.True(t, d.HTTPClientConfig.FollowRedirects)
	require.Equal(t, "http://loki:3100/loki/api/v1/push", d.name())

	o := a.Endpoints[1]
	require.Equal(t, units.ByteSize(512<<10), o.BatchSize)
	require.Equal(t, model.Duration(time.Second), o.BatchWait, "defaults apply to every endpoint")
	require.Equal(t, "s3cret", string(o.HTTPClientConfig.Authorization.Credentials), "bearer_token becomes an Authorization header")
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		errs []string
	}{
		{"no endpoints", "    external_labels: {a: b}\n", []string{"endpoints", "at least one"}},
		{"url", "    endpoints: [{url: 'loki:3100'}]\n", []string{"endpoints[0].url"}},
		{"unknown key", "    endpoints: [{url: 'http://l/p', batch_sise: 1MiB}]\n", []string{"endpoints[0].batch_sise", "unknown field"}},
		{"reserved header", "    endpoints: [{url: 'http://l/p', headers: {X-Scope-OrgID: t}}]\n", []string{"endpoints[0].headers.X-Scope-OrgID", "tenant_id"}},
		{"backoff", "    endpoints: [{url: 'http://l/p', min_backoff: 10s, max_backoff: 1s}]\n", []string{"endpoints[0].max_backoff"}},
		{"batch size", "    endpoints: [{url: 'http://l/p', batch_size: 0}]\n", []string{"endpoints[0].batch_size"}},
		{"size syntax", "    endpoints: [{url: 'http://l/p', batch_size: 1XB}]\n", []string{"endpoints[0].batch_size", "invalid size"}},
		{"capacity", "    endpoints: [{url: 'http://l/p', queue_config: {capacity: 0}}]\n", []string{"endpoints[0].queue_config.capacity"}},
		{"auth", "    endpoints: [{url: 'http://l/p', bearer_token: a, bearer_token_file: b}]\n", []string{"at most one of bearer_token"}},
		{"duplicate names", "    endpoints: [{url: 'http://l/p'}, {url: 'http://l/p', tenant_id: b}]\n", []string{"endpoints[1].name", "set name"}},
		{"external label", "    endpoints: [{url: 'http://l/p'}]\n    external_labels: {bad-name: x, ok: ''}\n", []string{"external_labels.bad-name", "external_labels.ok"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.body)
			require.Error(t, err)
			for _, want := range tc.errs {
				require.Contains(t, err.Error(), want)
			}
		})
	}
}

func TestSecretsRedacted(t *testing.T) {
	a, err := parse(t, "    endpoints: [{url: 'http://l/p', basic_auth: {username: u, password: hunter2}}]\n")
	require.NoError(t, err)
	out, err := yaml.Marshal(a)
	require.NoError(t, err)
	require.NotContains(t, string(out), "hunter2")
	require.Contains(t, string(out), "<secret>")
}
