package write

import (
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

func TestArgumentsDecode(t *testing.T) {
	a := validArgs(t, "endpoint: {url: http://es:9200}\n")
	require.Len(t, a.Endpoint.URL, 1)
	require.Equal(t, "http://es:9200/_bulk", bulkURL(a.Endpoint.URL[0]))
	require.Equal(t, DefaultArguments().Index, a.Index)
	require.Equal(t, 30*time.Second, time.Duration(a.Endpoint.Timeout))

	a = validArgs(t, "endpoint:\n  url: [http://a:9200/, \"http://b:4080/es?pipeline=logs\"]\n  api_key: k\n")
	require.Len(t, a.Endpoint.URL, 2)
	require.Equal(t, "http://a:9200/_bulk", bulkURL(a.Endpoint.URL[0]))
	require.Equal(t, "http://b:4080/es/_bulk?pipeline=logs", bulkURL(a.Endpoint.URL[1]))
	h := a.Endpoint.httpClientConfig()
	require.Equal(t, "ApiKey", h.Authorization.Type)
	require.Equal(t, "k", string(h.Authorization.Credentials))
}

func TestArgumentsValidate(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		fields     []string
	}{
		{"no url", "index: x\n", []string{"endpoint.url"}},
		{"bad url", "endpoint: {url: es:9200}\n", []string{"endpoint.url"}},
		{"bad url in list", "endpoint: {url: [http://a:9200, ftp://b]}\n", []string{"endpoint.url[1]"}},
		{"api key and basic auth", "endpoint: {url: http://a, api_key: k, basic_auth: {username: u, password: p}}\n", []string{"endpoint.api_key"}},
		{"api key twice", "endpoint: {url: http://a, api_key: k, api_key_file: /f}\n", []string{"endpoint.api_key"}},
		{"authorization header", "endpoint: {url: http://a, headers: {Authorization: x}}\n", []string{"endpoint.headers.Authorization"}},
		{"empty index", "endpoint: {url: http://a}\nindex: \"\"\n", []string{"index"}},
		{"upper case index", "endpoint: {url: http://a}\nindex: Logs\n", []string{"index"}},
		{"unknown date field", "endpoint: {url: http://a}\nindex: logs-%y\n", []string{"index"}},
		{"bad label", "endpoint: {url: http://a}\nindex: logs-{a-b}\n", []string{"index"}},
		{"unclosed label", "endpoint: {url: http://a}\nindex: logs-{ns\n", []string{"index"}},
		{"index starts with _", "endpoint: {url: http://a}\nindex: _logs\n", []string{"index"}},
		{"data stream with a date", "endpoint: {url: http://a}\nindex: logs-%Y\ndata_stream: true\n", []string{"index"}},
		{"zero batch", "endpoint: {url: http://a}\nbatch_size: 0\n", []string{"batch_size"}},
		{"backoffs", "endpoint: {url: http://a}\nmin_backoff: 2s\nmax_backoff: 1s\n", []string{"max_backoff"}},
		{"queue", "endpoint: {url: http://a}\nqueue_config: {capacity: 0}\n", []string{"queue_config.capacity"}},
		{"timeout", "endpoint: {url: http://a, timeout: 0s}\n", []string{"endpoint.timeout"}},
		{"compression", "endpoint: {url: http://a, compression: zstd}\n", []string{"endpoint.compression"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := pipelinetest.DecodeArgs[*Arguments](t, Registration, tc.yaml)
			require.Equal(t, tc.fields, pipelinetest.FieldsOf(a.Validate()))
		})
	}
}

func TestIndexNames(t *testing.T) {
	ts := time.Date(2024, 3, 5, 7, 8, 9, 0, time.FixedZone("CET", 3600))
	for _, tc := range []struct {
		tmpl   string
		labels model.LabelSet
		want   string
	}{
		{"logs", nil, "logs"},
		{"logs-%Y.%m.%d", nil, "logs-2024.03.05"},
		{"logs-%Y.%m.%d-%H", nil, "logs-2024.03.05-06"}, // UTC
		{"logs-%%-%Y", nil, "logs-%-2024"},
		{"logs-{namespace}-%Y.%m", model.LabelSet{"namespace": "Kube-System"}, "logs-kube-system-2024.03"},
		{"logs-{namespace}", model.LabelSet{"namespace": `a b/c"d*é`}, "logs-a_b_c_d__"},
		{"logs-{namespace}", model.LabelSet{}, "logs-"},
		{"logs-{namespace:-default}", model.LabelSet{}, "logs-default"},
		{"logs-{namespace:-default}", model.LabelSet{"namespace": "shop"}, "logs-shop"},
	} {
		tmpl, err := parseIndex(tc.tmpl)
		require.NoError(t, err, tc.tmpl)
		require.Equal(t, tc.want, newIndexNamer(tmpl).name(tc.labels, ts), tc.tmpl)
	}
}

// The cached name follows the labels and the hour.
func TestIndexNamerCache(t *testing.T) {
	tmpl, err := parseIndex("l-{ns}-%Y.%m.%d")
	require.NoError(t, err)
	n := newIndexNamer(tmpl)
	a, b := model.LabelSet{"ns": "a"}, model.LabelSet{"ns": "b"}
	day := time.Date(2024, 3, 5, 23, 0, 0, 0, time.UTC)
	require.Equal(t, "l-a-2024.03.05", n.name(a, day))
	require.Equal(t, "l-a-2024.03.05", n.name(a, day.Add(59*time.Minute)))
	require.Equal(t, "l-a-2024.03.06", n.name(a, day.Add(time.Hour)))
	require.Equal(t, "l-b-2024.03.06", n.name(b, day.Add(time.Hour)))
	require.Equal(t, "l-a-2024.03.05", n.name(a, day))
}

func TestLifecycle(t *testing.T) {
	args := validArgs(t, "endpoint: {url: http://127.0.0.1:1}\n")
	updated := validArgs(t, "endpoint: {url: http://127.0.0.1:2}\nindex: other\nqueue_config: {capacity: 1MiB}\n")
	pipelinetest.Lifecycle(t, Registration, args, updated)
}
