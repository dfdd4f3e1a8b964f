package targets

import (
	"errors"
	"fmt"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/sondehq/sonde/pipeline"
)

// ValidateRules checks Prometheus relabelling rules as written under field (for example
// "rules") and completes them for use: Validate fills each rule's label name validation
// scheme, without which relabel.ProcessBuilder cannot run. Errors name the offending rule
// (and, where it is clear, its field), e.g. "rules[2].target_label". Safe to call again.
func ValidateRules(field string, rules []*relabel.Config) error {
	var errs []error
	for i, r := range rules {
		path := fmt.Sprintf("%s[%d]", field, i)
		if r == nil {
			errs = append(errs, pipeline.Field(path, "empty rule"))
			continue
		}
		if r.Regex.Regexp == nil {
			// A rule built in code rather than decoded from YAML: give it the default regex,
			// as relabel.Config's UnmarshalYAML would have.
			r.Regex = relabel.DefaultRelabelConfig.Regex
		}
		if err := r.Validate(model.UTF8Validation); err != nil {
			errs = append(errs, pipeline.Nest(path, pipeline.Field(ruleField(err), "%w", err)))
		}
	}
	return errors.Join(errs...)
}

// ruleField guesses which key of a rule err (from relabel.Config.Validate) is about: Validate
// returns plain strings, so this reads the keys they quote.
func ruleField(err error) string {
	msg := err.Error()
	for _, key := range []string{"target_label", "replacement", "modulus"} {
		if strings.Contains(msg, key) {
			return key
		}
	}
	return "action"
}
