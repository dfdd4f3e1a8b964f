package journal

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/sondehq/sonde/pipeline"
)

// Defaults.
const (
	DefaultJournalctl = "journalctl"
	DefaultMaxAge     = 7 * time.Hour
	// DefaultPath and FallbackPath are where the journal is read when path is empty: the
	// persistent journal, else the volatile one (a host with Storage=volatile).
	DefaultPath  = "/var/log/journal"
	FallbackPath = "/run/log/journal"
)

// Labels taken from journal fields (the values of labels_from_fields).
const (
	LabelUnit             = "unit"              // _SYSTEMD_UNIT
	LabelLevel            = "level"             // PRIORITY as a keyword
	LabelHostname         = "hostname"          // _HOSTNAME
	LabelSyslogIdentifier = "syslog_identifier" // SYSLOG_IDENTIFIER
	LabelTransport        = "transport"         // _TRANSPORT
)

// fieldOf is the journal field each label of labels_from_fields comes from.
var fieldOf = map[string]string{
	LabelUnit:             "_SYSTEMD_UNIT",
	LabelLevel:            "PRIORITY",
	LabelHostname:         "_HOSTNAME",
	LabelSyslogIdentifier: "SYSLOG_IDENTIFIER",
	LabelTransport:        "_TRANSPORT",
}

// Arguments configure loki.source.journal.
//
//	loki.source.journal/node:
//	  path: /var/log/journal          # the host's journal, mounted into the pod
//	  matches: _SYSTEMD_UNIT=kubelet.service + _SYSTEMD_UNIT=containerd.service
//	  forward_to: [loki.write/default]
type Arguments struct {
	// Path is the journal directory (or a single journal file) to read; empty:
	// /var/log/journal, or /run/log/journal when the former does not exist.
	Path string `yaml:"path"`
	// Journalctl is the journalctl program that reads the journal: a path, or a name looked
	// up in $PATH.
	Journalctl string `yaml:"journalctl"`
	// MaxAge is how far back the first start reads (entries newer than the start less
	// max_age); later starts resume after the last entry forward_to acknowledged.
	MaxAge model.Duration `yaml:"max_age"`
	// Matches are journalctl match expressions separated by spaces, as for Alloy: FIELD=value
	// terms (matches of different fields must all hold, of the same field any one), and
	// "+" between groups of terms for OR. Empty: every entry.
	Matches string `yaml:"matches"`
	// FormatAsJSON sends the whole entry (every field) as a JSON object instead of its
	// MESSAGE.
	FormatAsJSON bool `yaml:"format_as_json"`
	// Labels are static labels added to every line; they override job and the labels of
	// labels_from_fields.
	Labels map[string]string `yaml:"labels"`
	// LabelsFromFields are labels set from each entry's fields: unit (_SYSTEMD_UNIT), level
	// (PRIORITY as emerg, alert, crit, error, warning, notice, info, debug), hostname
	// (_HOSTNAME), syslog_identifier (SYSLOG_IDENTIFIER), transport (_TRANSPORT). An entry
	// without the field gets no such label.
	LabelsFromFields []string `yaml:"labels_from_fields"`
	// ForwardTo are the components the lines are sent to (they must accept logs).
	ForwardTo []string `yaml:"forward_to"`
}

// DefaultArguments returns Arguments with their defaults: the host's journal from 7 hours
// back, MESSAGE as the line, labelled with unit and level.
func DefaultArguments() *Arguments {
	return &Arguments{
		Journalctl:       DefaultJournalctl,
		MaxAge:           model.Duration(DefaultMaxAge),
		LabelsFromFields: []string{LabelUnit, LabelLevel},
	}
}

// matchTerm is one journalctl match: a field name (upper-case letters, digits and
// underscores, not starting with a digit) = a value.
var matchTerm = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=.*$`)

// Validate implements pipeline.Arguments.
func (a *Arguments) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if a.Journalctl == "" {
		add(pipeline.Field("journalctl", "must not be empty"))
	}
	if a.MaxAge <= 0 {
		add(pipeline.Field("max_age", "must be positive, got %s", a.MaxAge))
	}
	terms := a.matches()
	for i, m := range terms {
		switch {
		case m == "+" && (i == 0 || i == len(terms)-1 || terms[i-1] == "+"):
			add(pipeline.Field("matches", "%q: \"+\" must stand between two groups of matches", a.Matches))
		case m != "+" && !matchTerm.MatchString(m):
			add(pipeline.Field("matches", "%q is not FIELD=value (a journal field is upper-case letters, digits and underscores)", m))
		}
	}
	for name, value := range a.Labels {
		if !model.LabelName(name).IsValidLegacy() || strings.HasPrefix(name, model.ReservedLabelPrefix) {
			add(pipeline.Field("labels", "%q is not a valid label name", name))
		}
		if !model.LabelValue(value).IsValid() || value == "" {
			add(pipeline.Field("labels", "label %s: the value must be a non-empty UTF-8 string, got %q", name, value))
		}
	}
	seen := map[string]bool{}
	for i, l := range a.LabelsFromFields {
		field := fmt.Sprintf("labels_from_fields[%d]", i)
		if _, ok := fieldOf[l]; !ok {
			add(pipeline.Field(field, "%q: must be one of %s, %s, %s, %s, %s", l, LabelUnit, LabelLevel, LabelHostname, LabelSyslogIdentifier, LabelTransport))
		}
		if seen[l] {
			add(pipeline.Field(field, "duplicate %q", l))
		}
		seen[l] = true
	}
	if len(a.ForwardTo) == 0 {
		add(pipeline.Field("forward_to", "at least one component is required"))
	}
	return errors.Join(errs...)
}

// References implements pipeline.Referencer.
func (a *Arguments) References() []pipeline.Reference {
	return []pipeline.Reference{{Field: "forward_to", Kind: pipeline.KindLogs, IDs: a.ForwardTo}}
}

// matches returns the match terms, each one argument of journalctl.
func (a *Arguments) matches() []string { return strings.Fields(a.Matches) }
