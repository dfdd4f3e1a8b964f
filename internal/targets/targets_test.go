package targets

import (
	"errors"
	"fmt"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline"
)

func TestToGroup(t *testing.T) {
	ts := pipeline.Targets{{"__address__": "a:1"}, {"__address__": "b:1", "x": "y"}}
	g := ToGroup("src", ts)
	require.Equal(t, "src", g.Source)
	require.Empty(t, g.Labels)
	require.Equal(t, []model.LabelSet(ts), g.Targets)
}

func TestFromGroups(t *testing.T) {
	groups := []*targetgroup.Group{
		{Source: "a", Labels: model.LabelSet{"job": "g", "env": "prod"}, Targets: []model.LabelSet{
			{"__address__": "a:1"},
			{"__address__": "a:2", "env": "dev"}, // the target's own label wins
		}},
		nil,
		{Source: "b", Targets: []model.LabelSet{{"__address__": "b:1"}}},
		{Source: "empty"},
	}
	got := FromGroups(groups)
	require.Equal(t, pipeline.Targets{
		{"__address__": "a:1", "job": "g", "env": "prod"},
		{"__address__": "a:2", "job": "g", "env": "dev"},
		{"__address__": "b:1"},
	}, got)
	got[0]["job"] = "changed"
	require.Equal(t, model.LabelValue("g"), groups[0].Labels["job"], "result shares nothing")
	require.Empty(t, FromGroups(nil))
}

func TestValidateRules(t *testing.T) {
	keep := &relabel.Config{SourceLabels: model.LabelNames{"a"}, Regex: relabel.MustNewRegexp("x"), Action: relabel.Keep}
	noRegex := &relabel.Config{SourceLabels: model.LabelNames{"a"}, Action: relabel.Keep} // built in code: gets the default regex
	bad := &relabel.Config{Action: relabel.Replace, Regex: relabel.MustNewRegexp("(.*)"), Separator: ";", Replacement: "$1"}
	err := ValidateRules("rules", []*relabel.Config{keep, nil, noRegex, bad})
	var fields []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var fe *pipeline.FieldError
		require.True(t, errors.As(e, &fe))
		fields = append(fields, fe.Field)
	}
	require.Equal(t, []string{"rules[1]", "rules[3].target_label"}, fields)
	require.Equal(t, model.UTF8Validation, keep.NameValidationScheme, "rules completed for use")
	require.NotNil(t, noRegex.Regex.Regexp)
	require.NoError(t, ValidateRules("rules", nil))
}

func benchTargets(n int) pipeline.Targets {
	ts := make(pipeline.Targets, n)
	for i := range ts {
		ts[i] = model.LabelSet{
			"__address__":                 model.LabelValue(fmt.Sprintf("10.0.%d.%d:9100", i/256, i%256)),
			"__meta_kubernetes_namespace": "default",
			"__meta_kubernetes_pod_name":  model.LabelValue(fmt.Sprintf("pod-%d", i)),
			"__meta_kubernetes_pod_ip":    "10.0.0.1",
		}
	}
	return ts
}

func BenchmarkToGroup(b *testing.B) {
	ts := benchTargets(1000)
	b.ReportAllocs()
	for b.Loop() {
		_ = ToGroup("targets", ts)
	}
}

func BenchmarkFromGroups(b *testing.B) {
	groups := make([]*targetgroup.Group, 10)
	for i := range groups {
		groups[i] = &targetgroup.Group{
			Source:  fmt.Sprint(i),
			Labels:  model.LabelSet{"__meta_kubernetes_node_name": "node-1"},
			Targets: benchTargets(100),
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = FromGroups(groups)
	}
}
