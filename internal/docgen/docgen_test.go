package docgen

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/common/config"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/internal/docgen/internal/fixture"
	"github.com/sondehq/sonde/pipeline"
)

func generateFixture(t *testing.T) *Result {
	t.Helper()
	reg, err := pipeline.NewRegistry(pipeline.Registration{
		Type:    "test.fixture",
		Args:    func() pipeline.Arguments { return fixture.DefaultArguments() },
		New:     func(pipeline.Options, pipeline.Arguments) (pipeline.Component, error) { return nil, nil },
		Exports: []pipeline.EdgeKind{pipeline.KindLogs},
	})
	require.NoError(t, err)
	res, err := Generate(reg, filepath.Join("..", ".."))
	require.NoError(t, err)
	return res
}

func TestGenerateRows(t *testing.T) {
	res := generateFixture(t)
	require.Len(t, res.Components, 1)
	c := res.Components[0]
	require.Equal(t, "internal/docgen/internal/fixture", c.Package)
	require.Equal(t, "It is the arguments of a component type made up for internal/docgen's tests, with every shape the generator handles.", c.Summary)
	require.Equal(t, []string{"They exist for tests."}, c.Notes)
	require.Equal(t, "test.fixture/a:\n  name: x", c.Example)

	rows := map[string]Row{}
	var keys []string
	for _, r := range c.Rows {
		rows[r.Key] = r
		keys = append(keys, r.Key)
	}
	// Order of the struct; inline keys at the level of the struct that embeds them; keys of
	// another module's inline struct listed from its note; "-" and unexported fields left out.
	require.Equal(t, []string{
		"name", "undocumented", "min_wait", "max_wait", "timeout", "size", "labels",
		"items", "items[].port", "items[].children",
		"block", "block.enabled", "by_name", "by_name.<name>.enabled", "foreign", "shared",
		"basic_auth", "authorization", "oauth2", "bearer_token", "bearer_token_file", "tls_config",
		"follow_redirects", "enable_http2", "proxy_url", "no_proxy", "proxy_from_environment",
		"proxy_connect_header", "http_headers",
	}, keys)

	for key, want := range map[string]Row{
		// Go field names in the doc become YAML keys; an acronym only at the start.
		"name":    {Type: "string", Default: "x", Doc: "`name` is written as name; see `timeout`."},
		"timeout": {Type: "duration", Default: "1m30s", Doc: "`timeout` bounds a request; the URL says where."},
		// A comment naming two fields is theirs both.
		"min_wait": {Type: "duration", Default: "1s", Doc: "`min_wait` and `max_wait` bound the wait."},
		"max_wait": {Type: "duration", Default: "1m", Doc: "`min_wait` and `max_wait` bound the wait."},
		"size":     {Type: "size", Default: "512KiB", Doc: "`size` is a size."},
		"labels":   {Type: "map of string", Default: "{a: \"1\", b: \"2\"}", Doc: "`labels` are labels."},
		// The defaults of a list item are those its decoding fills in.
		"items":            {Type: "list of objects", Doc: "`items` each have defaults of their own."},
		"items[].port":     {Type: "int", Default: "80", Doc: "`port` has a default that decoding fills in."},
		"block.enabled":    {Type: "bool", Default: "false", Doc: "`enabled` turns it on."},
		"undocumented":     {Type: "int", Default: "0"},
		"shared":           {Type: "bool", Default: "false", Doc: "`shared` is a key of Common."},
		"follow_redirects": {Type: "bool", Default: "true", Doc: notes[reflectTypeOfHTTPClientConfig()].keys["follow_redirects"]},
		"tls_config":       {Type: "object", Doc: notes[reflectTypeOfHTTPClientConfig()].keys["tls_config"], Link: promHTTPConfig},
		// A struct that contains itself refers to where its keys are listed.
		"items[].children": {Type: "list of objects", Doc: "`children` are items too. Takes the same keys as `items[]`."},
	} {
		want.Key = key
		require.Equal(t, want, rows[key], key)
	}

	var missing []string
	for _, m := range res.Missing {
		missing = append(missing, m.String())
	}
	require.Equal(t, []string{
		"test.fixture: undocumented has no description (internal/docgen/internal/fixture: Arguments.Undocumented)",
		"test.fixture: foreign has no description (internal/docgen/notes.go: no note for url.URL)",
	}, missing)
}

func TestGenerateFiles(t *testing.T) {
	res := generateFixture(t)
	require.Len(t, res.Files, 2)
	page := string(res.Files["test.fixture.md"])
	for _, want := range []string{
		"# test.fixture\n\n" + header + "\nIt is the arguments of a component type made up for `internal/docgen`'s tests",
		"- **Source**: [`internal/docgen/internal/fixture`](../../internal/docgen/internal/fixture)\n",
		"- **Exports**: `logs`: other components name it in their `forward_to`\n",
		"```yaml\ntest.fixture/a:\n  name: x\n```\n",
		"| `labels` | map of string | `{a: \"1\", b: \"2\"}` | `labels` are labels. |\n",
		"| `tls_config` | [object](" + promHTTPConfig + ") |  |",
		"| `undocumented` | int | `0` |  |\n",
	} {
		require.Contains(t, page, want)
	}
	require.NotContains(t, page, "**Guide**", "docs/components.md has no section for test.fixture")
	index := string(res.Files["README.md"])
	require.Contains(t, index, "| [`test.fixture`](test.fixture.md) | logs | It is the arguments of a component type made up for `internal/docgen`'s tests, with every shape the generator handles. |\n")
}

func TestProse(t *testing.T) {
	for in, want := range map[string]string{
		"plain words stay":                   "plain words stay",
		"reads /var/log/pods/<ns>_<pod>.":    "reads `/var/log/pods/<ns>_<pod>`.",
		`the "__path__" label`:               "the `__path__` label",
		"node_exporter's flag --path.procfs": "`node_exporter`'s flag `--path.procfs`",
		"sent to loki.write, e.g. twice":     "sent to `loki.write`, e.g. twice",
		"a `code | span` stays":              "a `code \\| span` stays",
		"(foo|bar) is code":                  "(`foo\\|bar`) is code",
		"numbers 0.5 and 1.2 stay":           "numbers 0.5 and 1.2 stay",
		"wrapped\nlines   join":              "wrapped lines join",
	} {
		require.Equal(t, want, prose(in), in)
	}
}

func TestFirstSentence(t *testing.T) {
	require.Equal(t, "One thing, e.g. this.", firstSentence("One thing, e.g. this. Two."))
	require.Equal(t, "Version 1.2 only.", firstSentence("Version 1.2 only. More."))
	require.Equal(t, "no stop", firstSentence("no stop"))
}

func TestIntro(t *testing.T) {
	para, summary := intro("Package x implements a.b: it does this. And that.\n\nMore.", "a.b")
	require.Equal(t, "Does this. And that.", para)
	require.Equal(t, "Does this.", summary)
	para, _ = intro("Package x implements a.b: it is this.", "a.b")
	require.Equal(t, "It is this.", para)
	para, _ = intro("Package remotewrite implements the prometheus.remote_write component: samples go.", "prometheus.remote_write")
	require.Equal(t, "Samples go.", para)
}

func TestGithubAnchor(t *testing.T) {
	require.Equal(t, "prometheusremote_write", githubAnchor("prometheus.remote_write"))
	require.Equal(t, "lokiwrite", githubAnchor("loki.write"))
}

func TestLeadingNames(t *testing.T) {
	require.Equal(t, []string{"A", "B", "C"}, leadingNames("A, B and C bound it"))
	require.Equal(t, []string{"Endpoint"}, leadingNames("Endpoint is host:port (TLS unless tls.insecure)"))
	require.Empty(t, leadingNames("(comment)"))
}

func TestMissingComponent(t *testing.T) {
	// A component whose package comment says nothing is reported as undocumented.
	reg, err := pipeline.NewRegistry(pipeline.Registration{
		Type: "test.fixture",
		Args: func() pipeline.Arguments { return fixture.DefaultArguments() },
		New:  func(pipeline.Options, pipeline.Arguments) (pipeline.Component, error) { return nil, nil },
	})
	require.NoError(t, err)
	src, err := newSources(filepath.Join("..", ".."))
	require.NoError(t, err)
	pkg, err := src.pkg("github.com/sondehq/sonde/internal/docgen/internal/fixture")
	require.NoError(t, err)
	pkg.doc = ""
	r, _ := reg.Lookup("test.fixture")
	_, missing, err := document(src, r)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(missing[0].String(), "test.fixture: component has no description (internal/docgen/internal/fixture: the package comment"), missing[0].String())
}

func reflectTypeOfHTTPClientConfig() reflect.Type { return reflect.TypeFor[config.HTTPClientConfig]() }
