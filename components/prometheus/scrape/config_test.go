package scrape

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	yamlv2 "go.yaml.in/yaml/v2"
	"go.yaml.in/yaml/v3"

	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// decode decodes YAML strictly into fresh Arguments (with defaults), as the loader does.
func decode(t testing.TB, text string) *Arguments {
	return pipelinetest.DecodeArgs[*Arguments](t, Registration, text)
}

func TestValidate(t *testing.T) {
	const base = "forward_to: [prometheus.remote_write/x]\nstatic_configs: [{targets: ['127.0.0.1:9100']}]\n"
	tests := []struct {
		name   string
		yaml   string
		fields []string
	}{
		{name: "minimal static", yaml: base},
		{name: "minimal targets", yaml: "forward_to: [a/b]\ntargets: [prometheus.exporter.unix/host]"},
		{name: "everything", yaml: base + `
job_name: node
scrape_interval: 30s
scrape_timeout: 30s
metrics_path: /probe
scheme: https
params: {module: [http_2xx]}
honor_labels: true
honor_timestamps: false
track_timestamps_staleness: true
enable_compression: false
scrape_protocols: [PrometheusProto, PrometheusText0.0.4]
fallback_scrape_protocol: PrometheusText1.0.0
scrape_native_histograms: true
body_size_limit: 10MB
sample_limit: 1000
target_limit: 10
label_limit: 30
label_name_length_limit: 200
label_value_length_limit: 2000
bearer_token_file: /var/run/secrets/token
tls_config: {ca_file: /etc/ca.pem, insecure_skip_verify: false, server_name: kubelet}
follow_redirects: false
enable_http2: false
proxy_url: http://proxy:3128
unhealthy_down_ratio: 0.5
`},
		{name: "no forward_to", yaml: "static_configs: [{targets: ['a:1']}]", fields: []string{"forward_to"}},
		{name: "nothing to scrape", yaml: "forward_to: [a/b]", fields: []string{"targets"}},
		{name: "empty reference", yaml: "forward_to: [a/b, '']\ntargets: ['']", fields: []string{"forward_to", "targets"}},
		{name: "static target is a URL", yaml: "forward_to: [a/b]\nstatic_configs: [{targets: ['a:1']}, {targets: ['http://b:1/metrics', '']}]",
			fields: []string{"static_configs[1].targets[0]", "static_configs[1].targets[1]"}},
		{name: "static without targets", yaml: "forward_to: [a/b]\nstatic_configs: [{labels: {a: b}}]", fields: []string{"static_configs[0].targets"}},
		{name: "timeout above interval", yaml: base + "scrape_interval: 1s\nscrape_timeout: 2s", fields: []string{"scrape_timeout"}},
		{name: "zero interval", yaml: base + "scrape_interval: 0s", fields: []string{"scrape_interval"}},
		{name: "bad scheme", yaml: base + "scheme: ftp", fields: []string{"scheme"}},
		{name: "down ratio above 1", yaml: base + "unhealthy_down_ratio: 1.5", fields: []string{"unhealthy_down_ratio"}},
		{name: "negative down ratio", yaml: base + "unhealthy_down_ratio: -0.1", fields: []string{"unhealthy_down_ratio"}},
		{name: "relative path", yaml: base + "metrics_path: metrics", fields: []string{"metrics_path"}},
		{name: "path with query", yaml: base + "metrics_path: /metrics?x=1", fields: []string{"metrics_path"}},
		{name: "path is a URL", yaml: base + "metrics_path: http://host/metrics", fields: []string{"metrics_path"}},
		{name: "bad protocol", yaml: base + "scrape_protocols: [Nope]", fields: []string{"scrape_protocols[0]"}},
		{name: "bad fallback", yaml: base + "fallback_scrape_protocol: text", fields: []string{"fallback_scrape_protocol"}},
		{name: "two credentials", yaml: base + "bearer_token: x\nbasic_auth: {username: u, password: p}", fields: []string{"basic_auth"}},
		{name: "authorization and bearer file", yaml: base + "bearer_token_file: /t\nauthorization: {credentials: x}", fields: []string{"authorization"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := Registration.Args().(*Arguments)
			dec := yaml.NewDecoder(bytes.NewBufferString(tc.yaml))
			dec.KnownFields(true)
			err := dec.Decode(args)
			if err == nil {
				err = args.Validate()
			}
			if len(tc.fields) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Equal(t, tc.fields, pipelinetest.FieldsOf(err), err.Error())
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, text := range []string{
		"forward_to: [a/b]\nunknown: 1",
		"forward_to: [a/b]\ntls_config: {ca_fil: x}",
		"forward_to: [a/b]\nscrape_interval: soon",
		"forward_to: [a/b]\nstatic_configs: [{targets: [a], lables: {}}]",
		"forward_to: [a/b]\ntls_config: {ca: x, ca_file: /y}", // TLSConfig validates itself while decoding
	} {
		args := Registration.Args()
		dec := yaml.NewDecoder(bytes.NewBufferString(text))
		dec.KnownFields(true)
		require.Error(t, dec.Decode(args), text)
	}
}

// TestScrapeConfigGolden pins the Prometheus scrape config built from arguments: every
// default that Prometheus' loader would fill is set, and secrets stay hidden.
func TestScrapeConfigGolden(t *testing.T) {
	tests := []struct{ name, yaml string }{
		{name: "defaults", yaml: "forward_to: [a/b]\ntargets: [c/d]"},
		{name: "custom", yaml: `
forward_to: [a/b]
static_configs: [{targets: ['127.0.0.1:9100'], labels: {env: prod}}]
job_name: node
scrape_interval: 5s
metrics_path: /probe
params: {module: [http_2xx]}
honor_labels: true
scrape_native_histograms: true
sample_limit: 5000
basic_auth: {username: admin, password: hunter2}
tls_config: {ca_file: /etc/ca.pem}
`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := decode(t, tc.yaml)
			require.NoError(t, args.Validate())
			sc, err := args.scrapeConfig("prometheus.scrape/test")
			require.NoError(t, err)
			got, err := yamlv2.Marshal(sc)
			require.NoError(t, err)
			path := filepath.Join("testdata", tc.name+".golden.yaml")
			if *update {
				require.NoError(t, os.WriteFile(path, got, 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run with -update to create")
			require.Equal(t, string(want), string(got))
			require.NotContains(t, string(got), "hunter2")
		})
	}
}
