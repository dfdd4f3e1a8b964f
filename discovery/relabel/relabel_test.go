package relabel

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"testing/synctest"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/sondehq/sonde/internal/targets"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// decode decodes YAML strictly into fresh Arguments, as the config loader does.
func decode(t testing.TB, text string) *Arguments {
	return pipelinetest.DecodeArgs[*Arguments](t, Registration, text)
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		yaml   string
		fields []string // field paths of the expected errors, in order; none: valid
	}{
		{name: "valid", yaml: `
targets: [discovery.kubernetes/pods]
rules:
  - {source_labels: [__meta_x], regex: "true", action: keep}
  - {action: labelmap, regex: __meta_(.+)}
`},
		{name: "no targets", yaml: `rules: []`, fields: []string{"targets"}},
		{name: "empty target id", yaml: `targets: [""]`, fields: []string{"targets"}},
		{name: "replace without target_label", yaml: `
targets: [a/b]
rules:
  - {action: keep, regex: x, source_labels: [a]}
  - {action: replace, source_labels: [a]}
`, fields: []string{"rules[1].target_label"}},
		{name: "hashmod without modulus", yaml: `
targets: [a/b]
rules: [{action: hashmod, source_labels: [a], target_label: b}]
`, fields: []string{"rules[0].modulus"}},
		{name: "labeldrop with extra fields", yaml: `
targets: [a/b]
rules: [{action: labeldrop, regex: x, target_label: y}]
`, fields: []string{"rules[0].action"}},
		{name: "lowercase with replacement", yaml: `
targets: [a/b]
rules: [{action: lowercase, source_labels: [a], target_label: b, replacement: c}]
`, fields: []string{"rules[0].replacement"}},
		{name: "null rule", yaml: `
targets: [a/b]
rules: [~, {action: replace}]
`, fields: []string{"rules[0]", "rules[1].target_label"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := decode(t, tc.yaml).Validate()
			if len(tc.fields) == 0 {
				require.NoError(t, err)
				return
			}
			require.Equal(t, tc.fields, pipelinetest.FieldsOf(err))
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, text := range []string{
		"targets: [a/b]\nrules: [{action: nope}]",       // unknown action
		"targets: [a/b]\nrules: [{regex: '('}]",         // bad regex
		"targets: [a/b]\nrules: [{action: keep, x: 1}]", // unknown key
	} {
		args := Registration.Args()
		dec := yaml.NewDecoder(bytes.NewBufferString(text))
		dec.KnownFields(true)
		require.Error(t, dec.Decode(args), text)
	}
}

func TestProcess(t *testing.T) {
	in := pipeline.Targets{
		{"__address__": "10.0.0.1:9100", "__meta_kubernetes_pod_annotation_prometheus_io_scrape": "true", "__meta_kubernetes_namespace": "default", "__meta_kubernetes_pod_name": "a"},
		{"__address__": "10.0.0.2:9100", "__meta_kubernetes_pod_annotation_prometheus_io_scrape": "false", "__meta_kubernetes_namespace": "default", "__meta_kubernetes_pod_name": "b"},
		{"__address__": "10.0.0.3:9100", "__meta_kubernetes_namespace": "kube-system", "__meta_kubernetes_pod_name": "c"},
	}
	tests := []struct {
		name  string
		rules string
		want  pipeline.Targets
	}{
		{name: "no rules", rules: `[]`, want: in},
		{name: "keep", rules: `[{source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape], regex: "true", action: keep}]`,
			want: in[:1]},
		{name: "drop", rules: `[{source_labels: [__meta_kubernetes_namespace], regex: kube-.*, action: drop}]`,
			want: in[:2]},
		{name: "replace and labeldrop meta", rules: `
- {source_labels: [__meta_kubernetes_namespace], target_label: namespace}
- {source_labels: [__meta_kubernetes_pod_name], target_label: pod}
- {action: labeldrop, regex: __meta_.*}`,
			want: pipeline.Targets{
				{"__address__": "10.0.0.1:9100", "namespace": "default", "pod": "a"},
				{"__address__": "10.0.0.2:9100", "namespace": "default", "pod": "b"},
				{"__address__": "10.0.0.3:9100", "namespace": "kube-system", "pod": "c"},
			}},
		{name: "labelmap then labelkeep", rules: `
- {action: labelmap, regex: __meta_kubernetes_(namespace|pod_name)}
- {action: labelkeep, regex: namespace|pod_name}`,
			want: pipeline.Targets{
				{"namespace": "default", "pod_name": "a"},
				{"namespace": "default", "pod_name": "b"},
				{"namespace": "kube-system", "pod_name": "c"},
			}},
		{name: "everything removed drops the target", rules: `[{action: labeldrop, regex: .*}]`,
			want: pipeline.Targets{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := decode(t, "targets: [a/b]\nrules: "+tc.rules)
			require.NoError(t, args.Validate())
			before := fmt.Sprint(in)
			got := Process(in, args.Rules)
			require.Equal(t, tc.want, got)
			require.Equal(t, before, fmt.Sprint(in), "input modified")
		})
	}
}

// TestComponent runs in a synctest bubble: the host and its target views are in memory, so
// synctest.Wait returns once Run has taken in every change and published.
func TestComponent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		host := pipelinetest.NewHost()
		const id = "discovery.relabel/test"
		opts := pipelinetest.Options(t, id, host)
		args := decode(t, `
targets: [discovery.a/x, discovery.a/y]
rules:
  - {source_labels: [keep], regex: "yes", action: keep}
  - {action: labeldrop, regex: keep}
`)
		c, err := Registration.New(opts, args) // as the controller builds it: validated first
		require.NoError(t, err)
		host.Export(id, c)

		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		defer func() {
			cancel()
			require.NoError(t, <-done)
		}()

		published := func() pipeline.Targets { return host.Published(id) }
		// The first, empty snapshot is published at start.
		synctest.Wait()
		require.NotNil(t, published())
		require.Empty(t, published())

		host.SetTargets("discovery.a/x", pipeline.Targets{
			{"__address__": "a:1", "keep": "yes"},
			{"__address__": "a:2", "keep": "no"},
		})
		host.SetTargets("discovery.a/y", pipeline.Targets{{"__address__": "b:1", "keep": "yes"}})
		want := pipeline.Targets{{"__address__": "a:1"}, {"__address__": "b:1"}}
		synctest.Wait()
		require.True(t, targets.Equal(published(), want), "published %v, want %v", published(), want)

		// A target disappears from the input: the next snapshot lacks it.
		host.SetTargets("discovery.a/y", nil)
		want = pipeline.Targets{{"__address__": "a:1"}}
		synctest.Wait()
		require.True(t, targets.Equal(published(), want), "published %v, want %v", published(), want)

		// New rules and a different input apply at once.
		require.NoError(t, Registration.Update(c, decode(t, `
targets: [discovery.a/x]
rules: [{source_labels: [keep], regex: "no", action: keep}]
`)))
		want = pipeline.Targets{{"__address__": "a:2", "keep": "no"}}
		synctest.Wait()
		require.True(t, targets.Equal(published(), want), "published %v, want %v", published(), want)

		require.Error(t, Registration.Update(c, decode(t, `targets: []`)), "invalid arguments are refused")
	})
}

func TestLifecycle(t *testing.T) {
	pipelinetest.Lifecycle(t, Registration,
		decode(t, "targets: [discovery.a/x]\nrules: [{action: labeldrop, regex: x}]"),
		decode(t, "targets: [discovery.a/y]\nrules: []"))
}

func BenchmarkProcess(b *testing.B) {
	args := decode(b, `
targets: [a/b]
rules:
  - {source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape], regex: "true", action: keep}
  - {source_labels: [__meta_kubernetes_namespace], regex: kube-.*, action: drop}
  - {action: labelmap, regex: __meta_kubernetes_pod_label_(.+)}
  - {source_labels: [__meta_kubernetes_namespace], target_label: namespace}
  - {source_labels: [__meta_kubernetes_pod_name], target_label: pod}
`)
	require.NoError(b, args.Validate())
	in := make(pipeline.Targets, 1000)
	for i := range in {
		in[i] = model.LabelSet{
			"__address__": model.LabelValue(fmt.Sprintf("10.0.%d.%d:9100", i/256, i%256)),
			"__meta_kubernetes_pod_annotation_prometheus_io_scrape": model.LabelValue([]string{"true", "false"}[i%2]),
			"__meta_kubernetes_namespace":                           model.LabelValue([]string{"default", "kube-system", "monitoring"}[i%3]),
			"__meta_kubernetes_pod_name":                            model.LabelValue(fmt.Sprintf("pod-%d", i)),
			"__meta_kubernetes_pod_label_app":                       "web",
			"__meta_kubernetes_pod_label_team":                      "sre",
			"__meta_kubernetes_pod_node_name":                       "node-1",
			"__meta_kubernetes_pod_ip":                              "10.0.0.1",
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		Process(in, args.Rules)
	}
}
