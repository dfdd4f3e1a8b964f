package journal

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

func TestArgumentsDecodeAndDefaults(t *testing.T) {
	a := pipelinetest.DecodeArgs[*Arguments](t, Registration, `
matches: _SYSTEMD_UNIT=kubelet.service
forward_to: [loki.write/default]
`)
	require.Equal(t, "", a.Path)
	require.Equal(t, DefaultJournalctl, a.Journalctl)
	require.Equal(t, []string{LabelUnit, LabelLevel}, a.LabelsFromFields)
	require.Equal(t, []string{"_SYSTEMD_UNIT=kubelet.service"}, a.matches())
}

func TestValidateNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*Arguments)
		field string
	}{
		{"no forward_to", func(a *Arguments) { a.ForwardTo = nil }, "forward_to"},
		{"max_age", func(a *Arguments) { a.MaxAge = 0 }, "max_age"},
		{"journalctl", func(a *Arguments) { a.Journalctl = "" }, "journalctl"},
		{"match without =", func(a *Arguments) { a.Matches = "kubelet.service" }, "matches"},
		{"lower-case field", func(a *Arguments) { a.Matches = "_systemd_unit=x" }, "matches"},
		{"leading +", func(a *Arguments) { a.Matches = "+ A=b" }, "matches"},
		{"double +", func(a *Arguments) { a.Matches = "A=b + + C=d" }, "matches"},
		{"label name", func(a *Arguments) { a.Labels = map[string]string{"bad-name": "x"} }, "labels"},
		{"empty label value", func(a *Arguments) { a.Labels = map[string]string{"env": ""} }, "labels"},
		{"unknown field label", func(a *Arguments) { a.LabelsFromFields = []string{"pid"} }, "labels_from_fields[0]"},
		{"duplicate field label", func(a *Arguments) { a.LabelsFromFields = []string{"unit", "unit"} }, "labels_from_fields[1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := testArgs("/var/log/journal")
			require.NoError(t, a.Validate())
			tc.edit(a)
			require.Equal(t, []string{tc.field}, pipelinetest.FieldsOf(a.Validate()))
		})
	}
	ok := testArgs("")
	ok.Matches = "_SYSTEMD_UNIT=kubelet.service + _SYSTEMD_UNIT=containerd.service _TRANSPORT=stdout"
	require.NoError(t, ok.Validate())
}
