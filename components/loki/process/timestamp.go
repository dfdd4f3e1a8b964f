package process

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sondehq/sonde/pipeline"
)

// TimestampConfig configures the timestamp stage.
//
//   - timestamp:
//     source: time
//     format: RFC3339Nano
//     fallback_formats: [UnixMs]
type TimestampConfig struct {
	// Source is the extracted value holding the time.
	Source string `yaml:"source"`
	// Format is a Go reference-time layout ("2006-01-02 15:04:05.000") or one of ANSIC,
	// UnixDate, RubyDate, RFC822, RFC822Z, RFC850, RFC1123, RFC1123Z, RFC3339, RFC3339Nano,
	// Unix (seconds, with an optional fraction), UnixMs, UnixUs, UnixNs.
	Format string `yaml:"format"`
	// FallbackFormats are tried in order when Format does not parse.
	FallbackFormats []string `yaml:"fallback_formats,omitempty"`
	// Location is the IANA time zone of layouts without a zone, e.g. "Europe/Paris"
	// (default UTC).
	Location string `yaml:"location,omitempty"`
	// ActionOnFailure is what happens when the value is missing or does not parse: fudge
	// (default: the stream's last parsed timestamp plus one nanosecond, so that lines keep
	// their order, or the entry's own timestamp when the stream has none yet) or skip (keep
	// the entry's timestamp).
	ActionOnFailure string `yaml:"action_on_failure,omitempty"`
}

var namedLayouts = map[string]string{
	"ANSIC":       time.ANSIC,
	"UnixDate":    time.UnixDate,
	"RubyDate":    time.RubyDate,
	"RFC822":      time.RFC822,
	"RFC822Z":     time.RFC822Z,
	"RFC850":      time.RFC850,
	"RFC1123":     time.RFC1123,
	"RFC1123Z":    time.RFC1123Z,
	"RFC3339":     time.RFC3339,
	"RFC3339Nano": time.RFC3339Nano,
}

type parseFunc func(string) (time.Time, error)

type timestampStage struct {
	slot    int
	parsers []parseFunc
	fudge   *lastTimestamps // nil: action skip
}

func (c *TimestampConfig) compile(comp *compiler) (stage, error) {
	var errs []error
	if c.Source == "" {
		errs = append(errs, pipeline.Field("source", "required"))
	}
	loc := time.UTC
	if c.Location != "" {
		l, err := time.LoadLocation(c.Location)
		if err != nil {
			errs = append(errs, pipeline.Field("location", "%v", err))
		} else {
			loc = l
		}
	}
	st := &timestampStage{}
	if c.Format == "" {
		errs = append(errs, pipeline.Field("format", "required"))
	} else if p, err := timeParser(c.Format, loc); err != nil {
		errs = append(errs, pipeline.Field("format", "%v", err))
	} else {
		st.parsers = append(st.parsers, p)
	}
	for i, f := range c.FallbackFormats {
		p, err := timeParser(f, loc)
		if err != nil {
			errs = append(errs, pipeline.Field(fmt.Sprintf("fallback_formats[%d]", i), "%v", err))
			continue
		}
		st.parsers = append(st.parsers, p)
	}
	switch c.ActionOnFailure {
	case "", "fudge":
		st.fudge = &lastTimestamps{m: map[uint64]time.Time{}}
	case "skip":
	default:
		errs = append(errs, pipeline.Field("action_on_failure", "must be fudge or skip, got %q", c.ActionOnFailure))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	st.slot = comp.slot(c.Source)
	return st, nil
}

// timeParser returns the parser for a format name or layout.
func timeParser(format string, loc *time.Location) (parseFunc, error) {
	switch format {
	case "Unix":
		return parseUnixSeconds, nil
	case "UnixMs":
		return unixInt(time.Millisecond), nil
	case "UnixUs":
		return unixInt(time.Microsecond), nil
	case "UnixNs":
		return unixInt(time.Nanosecond), nil
	}
	layout := format
	if l, ok := namedLayouts[format]; ok {
		layout = l
	} else if time.Date(1999, 12, 31, 23, 59, 58, 0, time.UTC).Format(layout) == layout {
		// Formatting changes nothing: the layout holds no reference-time element.
		return nil, fmt.Errorf("%q is neither a known format name nor a Go reference-time layout (like \"2006-01-02T15:04:05Z07:00\")", format)
	}
	hasYear := strings.Contains(layout, "2006") || strings.Contains(layout, "06")
	return func(s string) (time.Time, error) {
		t, err := time.ParseInLocation(layout, s, loc)
		if err != nil {
			return t, err
		}
		if !hasYear && t.Year() == 0 {
			// Syslog-style stamps carry no year: take this year's, or last year's when that
			// would put the stamp in the future (a December line read in January).
			now := time.Now().In(loc)
			t = t.AddDate(now.Year(), 0, 0)
			if t.After(now.Add(24 * time.Hour)) {
				t = t.AddDate(-1, 0, 0)
			}
		}
		return t, nil
	}, nil
}

func parseUnixSeconds(s string) (time.Time, error) {
	sec, frac, _ := strings.Cut(s, ".")
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	var ns int64
	if frac != "" {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		f, err := strconv.ParseInt(frac, 10, 64)
		if err != nil || f < 0 {
			return time.Time{}, fmt.Errorf("invalid fraction in %q", s)
		}
		ns = f * int64(math.Pow10(9-len(frac)))
	}
	return time.Unix(n, ns), nil
}

func unixInt(unit time.Duration) parseFunc {
	return func(s string) (time.Time, error) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, err
		}
		return time.Unix(0, 0).Add(time.Duration(n) * unit), nil
	}
}

func (st *timestampStage) process(_ context.Context, s *entryState) bool {
	if v, ok := s.value(st.slot); ok {
		for _, p := range st.parsers {
			if t, err := p(v); err == nil {
				s.ts, s.changed = t, true
				if st.fudge != nil {
					st.fudge.set(s.labelsHash(), t)
				}
				return true
			}
		}
	}
	s.failed("timestamp")
	if st.fudge != nil {
		if last, ok := st.fudge.get(s.labelsHash()); ok {
			s.ts, s.changed = last.Add(time.Nanosecond), true
			st.fudge.set(s.labelsHash(), s.ts)
		}
	}
	return true
}

// maxFudgeStreams bounds the streams whose last timestamp the fudge action remembers.
const maxFudgeStreams = 10000

// lastTimestamps remembers the last timestamp of each stream, by label hash.
type lastTimestamps struct {
	mu sync.Mutex
	m  map[uint64]time.Time
}

func (l *lastTimestamps) get(h uint64) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.m[h]
	return t, ok
}

func (l *lastTimestamps) set(h uint64, t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.m[h]; !ok && len(l.m) >= maxFudgeStreams {
		clear(l.m)
	}
	l.m[h] = t
}
