package process

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/config"
	"github.com/sondehq/sonde/pipeline"
)

// sinkRegistration is a logs sink for graphs under test.
var sinkRegistration = pipeline.Registration{
	Type:    "test.sink",
	Args:    func() pipeline.Arguments { return &sinkArgs{} },
	Exports: []pipeline.EdgeKind{pipeline.KindLogs},
	New: func(pipeline.Options, pipeline.Arguments) (pipeline.Component, error) {
		return nopComponent{}, nil
	},
}

type sinkArgs struct{}

func (*sinkArgs) Validate() error { return nil }

type nopComponent struct{}

func (nopComponent) Run(ctx context.Context) error { <-ctx.Done(); return nil }

// parse loads a configuration with a loki.process/p whose stages are stagesYAML (indented
// as the value of "stages:"), through the real loader: strict decoding, then Validate.
func parse(t *testing.T, stagesYAML string) error {
	t.Helper()
	reg, err := pipeline.NewRegistry(Registration, sinkRegistration)
	require.NoError(t, err)
	doc := "components:\n  test.sink/out: {}\n  loki.process/p:\n    forward_to: [test.sink/out]\n    stages:\n" + stagesYAML
	_, err = config.Parse("test.yaml", []byte(doc), reg, func(string) (string, bool) { return "", false })
	return err
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stages string
		errs   []string // substrings of the error; none: valid
	}{
		{name: "every stage", stages: `
      - multiline: {firstline: '^\d{4}', max_wait_time: 1s, max_lines: 50}
      - json: {expressions: {level: "", user: "req.user.name", tag: "tags[0]", dotted: '"a.b"'}, drop_malformed: true}
      - logfmt: {mapping: {dur: took}}
      - regex: {expression: '(?P<method>GET|POST) (?P<path>\S+)', source: msg}
      - labels: {level: "", method: ""}
      - static_labels: {cluster: dev}
      - label_drop: [filename]
      - label_keep: [namespace, pod, container, level, cluster, method]
      - structured_metadata: {trace_id: "", pod_uid: uid}
      - timestamp: {source: time, format: RFC3339Nano, fallback_formats: [UnixMs, "2006-01-02 15:04:05"], location: Europe/Paris, action_on_failure: skip}
      - output: {source: msg}
      - match:
          selector: '{app=~"api|web", level!="debug"} |= "GET" !~ "health.*"'
          stages:
            - static_labels: {matched: "yes"}
      - match: {selector: '{app="noisy"}', action: drop, drop_counter_reason: noisy}
      - drop: {source: [ns, app], separator: "/", expression: "kube-system/.*"}
      - drop: {source: level, value: debug}
      - drop: {older_than: 24h, longer_than: 8KiB}
      - limit: {rate: 100, burst: 200, drop: true, by_label_name: pod}
`},
		{name: "empty item", stages: "      - {}\n", errs: []string{"stages[0]", "empty stage"}},
		{name: "two types in one item", stages: "      - {json: {expressions: {a: ''}}, regex: {expression: '(?P<a>.)'}}\n", errs: []string{"stages[0]", "json and regex"}},
		{name: "unknown stage type", stages: "      - jsn: {expressions: {a: ''}}\n", errs: []string{"stages[0].jsn", "unknown field"}},
		{name: "unknown stage field", stages: "      - json: {expresions: {a: ''}}\n", errs: []string{"stages[0].json.expresions", "unknown field"}},
		{name: "json without expressions", stages: "      - json: {source: x}\n", errs: []string{"stages[0].json.expressions", "at least one"}},
		{name: "json path", stages: "      - json: {expressions: {a: 'items[*].name'}}\n", errs: []string{"stages[0].json.expressions.a", "JMESPath"}},
		{name: "logfmt without mapping", stages: "      - logfmt: {source: x}\n", errs: []string{"stages[0].logfmt.mapping"}},
		{name: "regex syntax", stages: "      - regex: {expression: '(?P<a'}\n", errs: []string{"stages[0].regex.expression", "invalid named capture"}},
		{name: "regex without groups", stages: "      - regex: {expression: 'abc'}\n", errs: []string{"stages[0].regex.expression", "named capture group"}},
		{name: "label name", stages: "      - labels: {bad-name: ''}\n", errs: []string{"stages[0].labels.bad-name", "invalid label name"}},
		{name: "static label value", stages: "      - static_labels: {env: ''}\n", errs: []string{"stages[0].static_labels.env", "empty value"}},
		{name: "timestamp format", stages: "      - timestamp: {source: t, format: Bogus}\n", errs: []string{"stages[0].timestamp.format"}},
		{name: "timestamp fallback and location", stages: "      - timestamp: {source: t, format: Unix, fallback_formats: [Nope], location: Mars/Base, action_on_failure: panic}\n",
			errs: []string{"stages[0].timestamp.fallback_formats[0]", "stages[0].timestamp.location", "stages[0].timestamp.action_on_failure"}},
		{name: "output without source", stages: "      - output: {}\n", errs: []string{"stages[0].output.source", "required"}},
		{name: "match selector", stages: "      - match: {selector: 'app=\"x\"', action: drop}\n", errs: []string{"stages[0].match.selector", "expected '{'"}},
		{name: "match empty matcher", stages: "      - match: {selector: '{app=~\".*\"}', action: drop}\n", errs: []string{"stages[0].match.selector", "does not match the empty value"}},
		{name: "match nested error", stages: "      - match:\n          selector: '{app=\"x\"}'\n          stages: [{regex: {expression: '('}}]\n", errs: []string{"stages[0].match.stages[0].regex.expression"}},
		{name: "match keep without stages", stages: "      - match: {selector: '{app=\"x\"}'}\n", errs: []string{"stages[0].match.stages", "required"}},
		{name: "match drop with stages", stages: "      - match: {selector: '{app=\"x\"}', action: drop, stages: [{static_labels: {a: b}}]}\n", errs: []string{"stages[0].match.stages", "must be empty"}},
		{name: "match action", stages: "      - match: {selector: '{app=\"x\"}', action: route}\n", errs: []string{"stages[0].match.action"}},
		{name: "match nested multiline", stages: "      - match: {selector: '{app=\"x\"}', stages: [{multiline: {firstline: '^a'}}]}\n", errs: []string{"stages[0].match.stages[0].multiline", "cannot be nested"}},
		{name: "drop without condition", stages: "      - drop: {drop_counter_reason: x}\n", errs: []string{"stages[0].drop", "at least one condition"}},
		{name: "drop value and expression", stages: "      - drop: {source: a, value: b, expression: c}\n", errs: []string{"stages[0].drop.value", "cannot both"}},
		{name: "drop size", stages: "      - drop: {longer_than: 8XB}\n", errs: []string{"stages[0].drop.longer_than", "invalid size"}},
		{name: "multiline firstline", stages: "      - multiline: {max_lines: 3}\n", errs: []string{"stages[0].multiline.firstline", "required"}},
		{name: "two multilines", stages: "      - multiline: {firstline: a}\n      - multiline: {firstline: b}\n", errs: []string{"stages[1].multiline", "only one"}},
		{name: "limit rate", stages: "      - limit: {rate: 0}\n", errs: []string{"stages[0].limit.rate", "positive"}},
		{name: "second stage error", stages: "      - static_labels: {a: b}\n      - regex: {}\n", errs: []string{"stages[1].regex.expression", "required"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := parse(t, tc.stages)
			if len(tc.errs) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, want := range tc.errs {
				require.Contains(t, err.Error(), want)
			}
		})
	}
}

func TestValidateForwardTo(t *testing.T) {
	a := DefaultArguments()
	err := a.Validate()
	require.ErrorContains(t, err, "forward_to")
	a.ForwardTo = []string{"loki.write/a"}
	require.NoError(t, a.Validate())
	require.Equal(t, []pipeline.Reference{{Field: "forward_to", Kind: pipeline.KindLogs, IDs: []string{"loki.write/a"}}}, a.References())
}
