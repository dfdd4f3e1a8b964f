package gpu

import (
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
)

// MetricType is a counter's type in dcgm-exporter's CSV format.
type MetricType string

// Metric types.
const (
	Gauge   MetricType = "gauge"
	Counter MetricType = "counter"
	Label   MetricType = "label" // a value shown as a label on every series of the GPU
)

// CounterSpec is one exported DCGM field with its Prometheus type and help text.
type CounterSpec struct {
	Name string
	Type MetricType
	Help string
	f    *field
}

//go:embed default-counters.csv
var defaultCountersCSV string

// DefaultCounters returns the default counter set: dcgm-exporter's default counters plus
// the profiling fields (see default-counters.csv). The file is embedded and a test keeps
// it valid, so the error is for completeness.
func DefaultCounters() ([]CounterSpec, error) { return defaultCounters() }

var defaultCounters = sync.OnceValues(func() ([]CounterSpec, error) {
	specs, unknown, err := ParseCounters(strings.NewReader(defaultCountersCSV))
	if err == nil && len(unknown) > 0 {
		err = fmt.Errorf("default-counters.csv names fields sonde does not implement: %s", strings.Join(unknown, ", "))
	}
	return specs, err
})

// CountersFromNames resolves DCGM field names with sonde's default type and help.
func CountersFromNames(names []string) ([]CounterSpec, error) {
	var errs []error
	out := make([]CounterSpec, 0, len(names))
	seen := map[string]bool{}
	for _, n := range names {
		f := fieldsByName[n]
		if f == nil {
			errs = append(errs, fmt.Errorf("unknown or unsupported DCGM field %q", n))
			continue
		}
		if seen[n] {
			continue
		}
		seen[n] = true
		out = append(out, CounterSpec{Name: f.name, Type: f.typ, Help: f.help, f: f})
	}
	return out, errors.Join(errs...)
}

// ParseCounters reads dcgm-exporter's counter CSV format: one "FIELD, type, help" per
// line, '#' starts a comment. Fields sonde does not implement are returned in unknown
// (so an existing dcgm-exporter file can be used as it is); malformed lines are errors.
func ParseCounters(r io.Reader) (specs []CounterSpec, unknown []string, err error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	seen := map[string]bool{}
	var errs []error
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			return nil, nil, fmt.Errorf("line %d: %w", line, err)
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if len(rec) != 3 {
			errs = append(errs, fmt.Errorf("line %d: want 3 columns (DCGM field, type, help), got %d", line, len(rec)))
			continue
		}
		name := strings.TrimSpace(rec[0])
		typ := MetricType(strings.ToLower(strings.TrimSpace(rec[1])))
		help := strings.TrimSpace(rec[2])
		switch typ {
		case Gauge, Counter, Label:
		default:
			errs = append(errs, fmt.Errorf("line %d: %s: type %q is not gauge, counter or label", line, name, rec[1]))
			continue
		}
		f := fieldsByName[name]
		if f == nil {
			unknown = append(unknown, name)
			continue
		}
		if (typ == Label) != (f.src == fromLabel) {
			what := "a value"
			if f.src == fromLabel {
				what = "a label"
			}
			errs = append(errs, fmt.Errorf("line %d: %s is %s; type %q does not fit", line, name, what, typ))
			continue
		}
		if seen[name] {
			errs = append(errs, fmt.Errorf("line %d: %s listed twice", line, name))
			continue
		}
		seen[name] = true
		specs = append(specs, CounterSpec{Name: name, Type: typ, Help: help, f: f})
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	return specs, unknown, nil
}
