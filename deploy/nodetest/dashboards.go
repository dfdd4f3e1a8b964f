package nodetest

// Grafana dashboards checked against a real Prometheus fed by sonde: the facts that the
// dashboards our users already run rely on (testdata/dashboard-facts.yaml), and every
// query of sonde's own dashboards (deploy/dashboards/*.json).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	promparser "github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

// promQL parses PromQL with Prometheus' default options.
var promQL = promparser.NewParser(promparser.Options{})

// Fact kinds.
const (
	// FactSeries is a raw series selector, queried as is.
	FactSeries = "series"
	// FactRule is a recording rule a dashboard reads; its Expr is evaluated ad hoc, since a
	// test cannot assume the user's Prometheus has the rule.
	FactRule = "rule"
	// FactMetricName is a metric name (and labels) an exporter must define; never queried.
	FactMetricName = "metric_name"
)

// Finding kinds.
const (
	FindingNoData        = "no-data"        // the selector or query returned nothing
	FindingMissingLabel  = "missing-label"  // some returned series lack a required label
	FindingEmptyLabel    = "empty-label"    // some returned series carry a required label empty
	FindingError         = "error"          // the query failed (HTTP, PromQL, bad template)
	FindingUnknownMetric = "unknown-metric" // an exporter does not define the metric name
	FindingNotDefault    = "not-default"    // defined, but not emitted by default
	FindingUnknownLabel  = "unknown-label"  // an exporter does not set the label
	FindingVariableEmpty = "variable-empty" // a dashboard variable's label_values query has no values
)

// DashboardFacts is testdata/dashboard-facts.yaml.
type DashboardFacts struct {
	Jobs    []JobFact         `yaml:"jobs"`
	Sources []SourceDashboard `yaml:"sources"`
}

// JobFact is a job label value that upstream dashboards select on, and whether sonde's
// daemonset preset emits it.
type JobFact struct {
	Job        string   `yaml:"job"`
	Exporter   string   `yaml:"exporter"`
	ExpectedBy []string `yaml:"expected_by"`
	// Selector is the full selector where the job alone does not identify the source.
	Selector string `yaml:"selector"`
	// SondeJob is the job sonde's daemonset preset sets by default.
	SondeJob string `yaml:"sonde_job"`
	// Sonde is match, differs (the user points the dashboard at sonde's job) or depends
	// (the user's own objects decide).
	Sonde string `yaml:"sonde"`
	Note  string `yaml:"note"`
}

// SourceDashboard is one upstream dashboard (or rule file) the facts were read from.
type SourceDashboard struct {
	ID      string `yaml:"id"`
	Name    string `yaml:"name"`
	Repo    string `yaml:"repo"`
	Path    string `yaml:"path"`
	Commit  string `yaml:"commit"`
	Version string `yaml:"version"`
	Facts   []Fact `yaml:"facts"`
}

// Fact is one thing a source dashboard relies on.
type Fact struct {
	Kind     string `yaml:"kind"`
	Exporter string `yaml:"exporter"`
	// Selector is the series selector (FactSeries).
	Selector string `yaml:"selector"`
	// Name is the recording rule (FactRule) or metric (FactMetricName).
	Name string `yaml:"name"`
	// Expr is the recording rule's expression (FactRule).
	Expr string `yaml:"expr"`
	// Labels must be present and non-empty on every returned series.
	Labels []string `yaml:"labels"`
	// Inputs are the raw selectors a rule is computed from, queried to explain an empty rule.
	Inputs []string `yaml:"inputs"`
	// Optional marks facts a healthy node may legitimately lack (no CPU limits, no swap).
	Optional bool   `yaml:"optional"`
	Note     string `yaml:"note"`
}

// Query returns what the fact queries: the selector, the rule's expression, or the name.
func (f Fact) Query() string {
	switch f.Kind {
	case FactSeries:
		return f.Selector
	case FactRule:
		return f.Expr
	}
	return f.Name
}

// LoadDashboardFacts reads and validates a facts file: strict YAML, known kinds, and every
// selector and expression parsed by Prometheus' PromQL parser.
func LoadDashboardFacts(path string) (*DashboardFacts, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var f DashboardFacts
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var errs []error
	ids := map[string]bool{}
	for i, s := range f.Sources {
		where := fmt.Sprintf("%s: sources[%d] (%s)", path, i, s.ID)
		if s.ID == "" || s.Repo == "" || s.Path == "" || s.Commit == "" {
			errs = append(errs, fmt.Errorf("%s: id, repo, path and commit are required", where))
		}
		if ids[s.ID] {
			errs = append(errs, fmt.Errorf("%s: duplicate id", where))
		}
		ids[s.ID] = true
		for j, fact := range s.Facts {
			if err := fact.validate(); err != nil {
				errs = append(errs, fmt.Errorf("%s: facts[%d]: %w", where, j, err))
			}
		}
	}
	for i, j := range f.Jobs {
		if j.Job == "" || !slices.Contains([]string{"match", "differs", "depends"}, j.Sonde) {
			errs = append(errs, fmt.Errorf("%s: jobs[%d]: want a job and sonde: match|differs|depends", path, i))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &f, nil
}

func (f Fact) validate() error {
	switch f.Kind {
	case FactSeries:
		if _, err := promQL.ParseMetricSelector(f.Selector); err != nil {
			return fmt.Errorf("selector %q: %w", f.Selector, err)
		}
	case FactRule:
		if f.Name == "" {
			return errors.New("rule without a name")
		}
		if _, err := promQL.ParseExpr(f.Expr); err != nil {
			return fmt.Errorf("rule %s: expr: %w", f.Name, err)
		}
		for _, in := range f.Inputs {
			if _, err := promQL.ParseMetricSelector(in); err != nil {
				return fmt.Errorf("rule %s: input %q: %w", f.Name, in, err)
			}
		}
	case FactMetricName:
		if !regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`).MatchString(f.Name) {
			return fmt.Errorf("metric name %q", f.Name)
		}
	default:
		return fmt.Errorf("kind %q: want %s, %s or %s", f.Kind, FactSeries, FactRule, FactMetricName)
	}
	return nil
}

// RewriteJobs returns the jobs sonde uses for the job values the dashboards expect, for
// the entries where they differ and sonde's job is a plain value: the map to pass as
// CheckOptions.Jobs when the user points the dashboards at sonde's jobs.
func (f *DashboardFacts) RewriteJobs() map[string]string {
	m := map[string]string{}
	for _, j := range f.Jobs {
		if j.Sonde == "differs" && !strings.ContainsAny(j.SondeJob, "<> ") {
			m[j.Job] = j.SondeJob
		}
	}
	return m
}

// Finding is one thing a dashboard relies on that the data does not give.
type Finding struct {
	// Source is the upstream dashboard's id, or the own dashboard's file name.
	Source string
	// Panel is the panel title (own dashboards) or the rule or metric name (facts).
	Panel string
	// Query is what was queried, after variable and job substitution.
	Query string
	Kind  string
	// Label is the label a missing-label, empty-label or unknown-label finding is about.
	Label    string
	Optional bool
	Detail   string
}

func (f Finding) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", f.Source, f.Kind)
	if f.Optional {
		b.WriteString(" (optional)")
	}
	if f.Panel != "" {
		fmt.Fprintf(&b, " [%s]", f.Panel)
	}
	if f.Label != "" {
		fmt.Fprintf(&b, " label %q", f.Label)
	}
	fmt.Fprintf(&b, ": %s", f.Query)
	if f.Detail != "" {
		fmt.Fprintf(&b, " (%s)", f.Detail)
	}
	return b.String()
}

// CheckOptions tune CheckDashboards and CheckOwnDashboards.
type CheckOptions struct {
	// Client does the HTTP requests; nil means a client with a 30 s timeout.
	Client *http.Client
	// Time is the evaluation time; zero means now.
	Time time.Time
	// Lookback is the window of series look-ups ending at Time; zero means 5 minutes.
	Lookback time.Duration
	// Exporters, when not empty, limits the facts checked to these exporters (for example
	// without kube-state-metrics on a node that has none).
	Exporters []string
	// Jobs rewrites job="key" matchers to job="value" before querying.
	Jobs map[string]string
}

func (o CheckOptions) client() *http.Client {
	if o.Client != nil {
		return o.Client
	}
	return &http.Client{Timeout: 30 * time.Second}
}

func (o CheckOptions) at() time.Time {
	if o.Time.IsZero() {
		return time.Now()
	}
	return o.Time
}

func (o CheckOptions) window() (start, end time.Time) {
	lb := o.Lookback
	if lb <= 0 {
		lb = 5 * time.Minute
	}
	end = o.at()
	return end.Add(-lb), end
}

// CheckDashboards queries the Prometheus at promURL for every series and rule fact (not
// metric_name facts: CheckMetricNames), and reports selectors that return nothing and
// required labels that are missing or empty. A rule that returns nothing is explained by
// which of its inputs return nothing. Identical queries are asked once.
func CheckDashboards(ctx context.Context, promURL string, facts *DashboardFacts, opts CheckOptions) []Finding {
	p := &promAPI{base: strings.TrimRight(promURL, "/"), opts: opts, series: map[string]seriesResult{}}
	var out []Finding
	for _, s := range facts.Sources {
		for _, f := range s.Facts {
			if f.Kind == FactMetricName || (len(opts.Exporters) > 0 && !slices.Contains(opts.Exporters, f.Exporter)) {
				continue
			}
			base := Finding{Source: s.ID, Panel: f.Name, Optional: f.Optional}
			q, err := rewriteJobs(f.Query(), opts.Jobs)
			if err != nil {
				base.Query, base.Kind, base.Detail = f.Query(), FindingError, err.Error()
				out = append(out, base)
				continue
			}
			base.Query = q
			var sets []map[string]string
			if f.Kind == FactSeries {
				sets, err = p.seriesOf(ctx, q)
			} else {
				sets, err = p.query(ctx, q)
			}
			switch {
			case err != nil:
				base.Kind, base.Detail = FindingError, err.Error()
				out = append(out, base)
			case len(sets) == 0:
				base.Kind = FindingNoData
				if f.Kind == FactRule {
					base.Detail = p.emptyInputs(ctx, f.Inputs, opts.Jobs)
				}
				out = append(out, base)
			default:
				out = append(out, labelFindings(base, sets, f.Labels)...)
			}
		}
	}
	return out
}

// labelFindings reports required labels that no series of sets carries with a value.
func labelFindings(base Finding, sets []map[string]string, required []string) []Finding {
	var out []Finding
	for _, l := range required {
		missing, empty := 0, 0
		for _, s := range sets {
			v, ok := s[l]
			switch {
			case !ok:
				missing++
			case v == "":
				empty++
			}
		}
		// A label a dashboard filters or joins on must be there, but not on every series
		// of a metric: cAdvisor's node-level cgroups (id="/") carry no pod, and sandbox
		// containers no container, in every kubelet; the dashboards' own selectors drop
		// those. Only a label that no series carries is a finding.
		if missing+empty < len(sets) {
			continue
		}
		f := base
		f.Label = l
		f.Kind, f.Detail = FindingMissingLabel, fmt.Sprintf("none of %d series has it", len(sets))
		if empty > 0 {
			f.Kind, f.Detail = FindingEmptyLabel, fmt.Sprintf("empty on %d of %d series, missing on the rest", empty, len(sets))
		}
		out = append(out, f)
	}
	return out
}

// rewriteJobs replaces job="k" matchers by job="jobs[k]".
func rewriteJobs(q string, jobs map[string]string) (string, error) {
	if len(jobs) == 0 {
		return q, nil
	}
	expr, err := promQL.ParseExpr(q)
	if err != nil {
		return "", err
	}
	changed := false
	promparser.Inspect(expr, func(n promparser.Node, _ []promparser.Node) error {
		vs, ok := n.(*promparser.VectorSelector)
		if !ok {
			return nil
		}
		for i, m := range vs.LabelMatchers {
			if to, ok := jobs[m.Value]; ok && m.Name == "job" && m.Type == labels.MatchEqual {
				vs.LabelMatchers[i] = labels.MustNewMatcher(labels.MatchEqual, "job", to)
				changed = true
			}
		}
		return nil
	})
	if !changed {
		return q, nil
	}
	return expr.String(), nil
}

// ExporterNames are the metric and label names an exporter defines.
type ExporterNames struct {
	// Default are the metrics emitted with the default configuration.
	Default map[string]bool
	// Defined are all metrics the exporter can emit (a superset of Default).
	Defined map[string]bool
	// Labels are the labels the exporter sets on its series (target labels such as job and
	// instance are always there and need not be listed).
	Labels map[string]bool
}

// GPUExporterNames reads sonde's GPU exporter (components/prometheus/exporter/gpu under
// root): its default counters file, its field catalog and its label names.
func GPUExporterNames(root string) (ExporterNames, error) {
	dir := filepath.Join(root, "components", "prometheus", "exporter", "gpu")
	n := ExporterNames{Default: map[string]bool{}, Defined: map[string]bool{}, Labels: map[string]bool{}}
	csv, err := os.ReadFile(filepath.Join(dir, "default-counters.csv"))
	if err != nil {
		return n, err
	}
	sc := bufio.NewScanner(bytes.NewReader(csv))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, _ := strings.Cut(line, ",")
		n.Default[strings.TrimSpace(name)] = true
	}
	fields, err := os.ReadFile(filepath.Join(dir, "fields.go"))
	if err != nil {
		return n, err
	}
	for _, m := range regexp.MustCompile(`name:\s*"(DCGM_[A-Z0-9_]+)"`).FindAllSubmatch(fields, -1) {
		n.Defined[string(m[1])] = true
	}
	expo, err := os.ReadFile(filepath.Join(dir, "exposition.go"))
	if err != nil {
		return n, err
	}
	for _, m := range regexp.MustCompile(`(?m)^\s*label[A-Z]\w*\s*=\s*"([^"]+)"`).FindAllSubmatch(expo, -1) {
		n.Labels[string(m[1])] = true
	}
	if len(n.Default) == 0 || len(n.Defined) == 0 || len(n.Labels) == 0 {
		return n, fmt.Errorf("%s: found %d default metrics, %d defined metrics, %d labels: has the code changed shape?", dir, len(n.Default), len(n.Defined), len(n.Labels))
	}
	return n, nil
}

// CheckMetricNames checks the metric_name facts of one exporter against the names it
// defines.
func CheckMetricNames(facts *DashboardFacts, exporter string, names ExporterNames) []Finding {
	var out []Finding
	for _, s := range facts.Sources {
		for _, f := range s.Facts {
			if f.Kind != FactMetricName || f.Exporter != exporter {
				continue
			}
			base := Finding{Source: s.ID, Panel: f.Name, Query: f.Name, Optional: f.Optional}
			switch {
			case !names.Defined[f.Name] && !names.Default[f.Name]:
				base.Kind = FindingUnknownMetric
				out = append(out, base)
			case !names.Default[f.Name]:
				base.Kind, base.Detail = FindingNotDefault, "defined but not in the default counters"
				out = append(out, base)
			}
			for _, l := range f.Labels {
				if l == "job" || l == "instance" || names.Labels[l] {
					continue
				}
				u := base
				u.Kind, u.Label, u.Detail = FindingUnknownLabel, l, ""
				out = append(out, u)
			}
		}
	}
	return out
}

// promAPI is a small client of the Prometheus HTTP API.
type promAPI struct {
	base   string
	opts   CheckOptions
	series map[string]seriesResult
}

type seriesResult struct {
	sets []map[string]string
	err  error
}

type apiResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
}

func (p *promAPI) get(ctx context.Context, path string, v url.Values) (json.RawMessage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+path, strings.NewReader(v.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := p.opts.client().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	var r apiResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%s: HTTP %d: %.200s", path, resp.StatusCode, body)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s: %s: %s", path, r.ErrorType, r.Error)
	}
	return r.Data, nil
}

// seriesOf returns the label sets of the series matching sel in the look-up window.
func (p *promAPI) seriesOf(ctx context.Context, sel string) ([]map[string]string, error) {
	if r, ok := p.series[sel]; ok {
		return r.sets, r.err
	}
	start, end := p.opts.window()
	data, err := p.get(ctx, "/api/v1/series", url.Values{
		"match[]": {sel},
		"start":   {formatTime(start)},
		"end":     {formatTime(end)},
	})
	var sets []map[string]string
	if err == nil {
		err = json.Unmarshal(data, &sets)
	}
	p.series[sel] = seriesResult{sets, err}
	return sets, err
}

// query evaluates q at the check time and returns the label sets of its result; a scalar
// or string result is one empty label set.
func (p *promAPI) query(ctx context.Context, q string) ([]map[string]string, error) {
	data, err := p.get(ctx, "/api/v1/query", url.Values{"query": {q}, "time": {formatTime(p.opts.at())}})
	if err != nil {
		return nil, err
	}
	var r struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	switch r.ResultType {
	case "scalar", "string":
		return []map[string]string{{}}, nil
	}
	var samples []struct {
		Metric map[string]string `json:"metric"`
	}
	if err := json.Unmarshal(r.Result, &samples); err != nil {
		return nil, err
	}
	sets := make([]map[string]string, len(samples))
	for i, s := range samples {
		sets[i] = s.Metric
	}
	return sets, nil
}

// emptyInputs names the selectors among sels that match no series.
func (p *promAPI) emptyInputs(ctx context.Context, sels []string, jobs map[string]string) string {
	var empty []string
	for _, s := range sels {
		q, err := rewriteJobs(s, jobs)
		if err != nil {
			continue
		}
		if sets, err := p.seriesOf(ctx, q); err == nil && len(sets) == 0 {
			empty = append(empty, q)
		}
	}
	if len(empty) == 0 {
		return everyInputHasSeries
	}
	return "no series for " + strings.Join(empty, ", ")
}

func formatTime(t time.Time) string {
	return fmt.Sprintf("%.3f", float64(t.UnixMilli())/1000)
}

// Dashboard is what CheckOwnDashboards reads from a Grafana dashboard JSON file.
type Dashboard struct {
	// Name is the file's base name.
	Name      string
	Title     string
	Variables []Variable
	Queries   []PanelQuery
}

// Variable is a dashboard template variable.
type Variable struct {
	Name string
	Type string // query, datasource, textbox, custom, ...
	// Query is the variable's query (label_values(...) for Prometheus query variables).
	Query string
	// Default is the variable's current value in the JSON, if any.
	Default string
}

// PanelQuery is one target of one panel.
type PanelQuery struct {
	Panel string
	RefID string
	Expr  string
	// Loki is true for targets of a Loki data source (LogQL, not checked against Prometheus).
	Loki bool
}

type grafanaPanel struct {
	Title      string          `json:"title"`
	Datasource json.RawMessage `json:"datasource"`
	Targets    []struct {
		RefID      string          `json:"refId"`
		Expr       string          `json:"expr"`
		Datasource json.RawMessage `json:"datasource"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"`
}

// LoadDashboard reads a Grafana dashboard JSON file: its variables and every panel target
// that has an expression, rows' nested panels included.
func LoadDashboard(path string) (*Dashboard, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var raw struct {
		Title      string         `json:"title"`
		Panels     []grafanaPanel `json:"panels"`
		Templating struct {
			List []struct {
				Name    string          `json:"name"`
				Type    string          `json:"type"`
				Query   json.RawMessage `json:"query"`
				Current struct {
					Value json.RawMessage `json:"value"`
				} `json:"current"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	d := &Dashboard{Name: filepath.Base(path), Title: raw.Title}
	for _, v := range raw.Templating.List {
		d.Variables = append(d.Variables, Variable{Name: v.Name, Type: v.Type, Query: variableQuery(v.Query), Default: jsonString(v.Current.Value)})
	}
	var walk func(ps []grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			for _, t := range p.Targets {
				if t.Expr == "" {
					continue
				}
				ds := t.Datasource
				if len(ds) == 0 || string(ds) == "null" {
					ds = p.Datasource
				}
				d.Queries = append(d.Queries, PanelQuery{Panel: p.Title, RefID: t.RefID, Expr: t.Expr, Loki: isLoki(ds)})
			}
			walk(p.Panels)
		}
	}
	walk(raw.Panels)
	return d, nil
}

// variableQuery returns a variable's query, a string or {"query": "..."}.
func variableQuery(raw json.RawMessage) string {
	if s := jsonString(raw); s != "" {
		return s
	}
	var o struct {
		Query string `json:"query"`
	}
	_ = json.Unmarshal(raw, &o)
	return o.Query
}

func jsonString(raw json.RawMessage) string {
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

// isLoki tells whether a datasource reference ({"type": "loki", "uid": "${loki_datasource}"}
// or a plain string) names Loki.
func isLoki(raw json.RawMessage) bool {
	var o struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	}
	if json.Unmarshal(raw, &o) == nil && (o.Type != "" || o.UID != "") {
		return o.Type == "loki" || strings.Contains(strings.ToLower(o.UID), "loki")
	}
	return strings.Contains(strings.ToLower(jsonString(raw)), "loki")
}

// BuiltinVariables are Grafana's global variables, with values fit for an instant query
// against data scraped every 15 seconds.
var BuiltinVariables = map[string]string{
	"__rate_interval": "1m",
	"__interval":      "15s",
	"__interval_ms":   "15000",
	"__range":         "1h",
	"__range_s":       "3600",
	"__auto":          "1m",
}

var varRef = regexp.MustCompile(`\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]|\$(\w+)`)

// ExpandVariables substitutes Grafana variable references ($name, ${name}, ${name:fmt},
// [[name]]) with vars, then BuiltinVariables; unknown references are left as they are.
func ExpandVariables(expr string, vars map[string]string) string {
	return varRef.ReplaceAllStringFunc(expr, func(ref string) string {
		m := varRef.FindStringSubmatch(ref)
		name := m[1] + m[2] + m[3]
		if v, ok := vars[name]; ok {
			return v
		}
		if v, ok := BuiltinVariables[name]; ok {
			return v
		}
		return ref
	})
}

// OwnOptions tune CheckOwnDashboards.
type OwnOptions struct {
	CheckOptions
	// Vars are values for the dashboards' variables. A query or custom variable without a
	// value here becomes ".*" (sonde's dashboards match variables with =~).
	Vars map[string]string
	// SkipMetricPrefixes: queries that read a metric with one of these prefixes are not
	// checked (for example "DCGM_" on a node without a GPU, "kube_" without
	// kube-state-metrics).
	SkipMetricPrefixes []string
}

// CheckOwnDashboards runs every Prometheus query of the dashboards at paths (Loki targets
// are skipped) and reports queries with no data and query variables with no values. A
// query whose outermost operation only filters or pads (`x > 0`, `x == 1`, `x or
// vector(0)`) is judged by x, so that a healthy system's empty "dropped > 0" panel is not a
// finding while a panel over a missing series is.
func CheckOwnDashboards(ctx context.Context, promURL string, paths []string, opts OwnOptions) []Finding {
	p := &promAPI{base: strings.TrimRight(promURL, "/"), opts: opts.CheckOptions, series: map[string]seriesResult{}}
	var out []Finding
	for _, path := range paths {
		d, err := LoadDashboard(path)
		if err != nil {
			out = append(out, Finding{Source: filepath.Base(path), Kind: FindingError, Detail: err.Error()})
			continue
		}
		vars := map[string]string{}
		for _, v := range d.Variables {
			if v.Type == "query" || v.Type == "custom" {
				vars[v.Name] = ".*"
			}
		}
		for k, v := range opts.Vars {
			vars[k] = v
		}
		out = append(out, p.checkVariables(ctx, d, vars, opts)...)
		for _, q := range d.Queries {
			if q.Loki {
				continue
			}
			out = append(out, p.checkPanelQuery(ctx, d.Name, q, vars, opts)...)
		}
	}
	return out
}

var labelValuesRef = regexp.MustCompile(`^\s*label_values\((.*),\s*(\w+)\s*\)\s*$`)

// checkVariables reports query variables whose label_values(selector, label) has no value.
func (p *promAPI) checkVariables(ctx context.Context, d *Dashboard, vars map[string]string, opts OwnOptions) []Finding {
	var out []Finding
	for _, v := range d.Variables {
		m := labelValuesRef.FindStringSubmatch(v.Query)
		if v.Type != "query" || m == nil {
			continue
		}
		sel := ExpandVariables(m[1], vars)
		base := Finding{Source: d.Name, Panel: "$" + v.Name, Query: fmt.Sprintf("label_values(%s, %s)", sel, m[2])}
		if skipped(sel, opts.SkipMetricPrefixes) {
			continue
		}
		sets, err := p.seriesOf(ctx, sel)
		if err != nil {
			base.Kind, base.Detail = FindingError, err.Error()
			out = append(out, base)
			continue
		}
		if !slices.ContainsFunc(sets, func(s map[string]string) bool { return s[m[2]] != "" }) {
			base.Kind, base.Label = FindingVariableEmpty, m[2]
			base.Detail = fmt.Sprintf("%d series, none with %s", len(sets), m[2])
			out = append(out, base)
		}
	}
	return out
}

func (p *promAPI) checkPanelQuery(ctx context.Context, dash string, q PanelQuery, vars map[string]string, opts OwnOptions) []Finding {
	expanded := ExpandVariables(q.Expr, vars)
	base := Finding{Source: dash, Panel: q.Panel, Query: expanded}
	expr, err := promQL.ParseExpr(expanded)
	if err != nil {
		base.Kind, base.Detail = FindingError, err.Error()
		return []Finding{base}
	}
	if skipped(expanded, opts.SkipMetricPrefixes) {
		return nil
	}
	core := unwrapFilters(expr)
	sets, err := p.query(ctx, core.String())
	if err != nil {
		base.Kind, base.Detail = FindingError, err.Error()
		return []Finding{base}
	}
	if len(sets) > 0 {
		return nil
	}
	base.Kind = FindingNoData
	var sels []string
	promparser.Inspect(core, func(n promparser.Node, _ []promparser.Node) error {
		if vs, ok := n.(*promparser.VectorSelector); ok {
			sels = append(sels, vs.String())
		}
		return nil
	})
	base.Detail = p.emptyInputs(ctx, slices.Compact(sels), nil)
	if base.Detail == everyInputHasSeries && hasFilter(core) {
		// count(up == 0), (x == 0) inside an aggregation: a healthy node's empty panel.
		return nil
	}
	if core != expr {
		base.Detail = "checked as " + core.String() + "; " + base.Detail
	}
	return []Finding{base}
}

// unwrapFilters strips outer parentheses, `or vector(...)`/`or <number>` padding and
// comparisons against a number (not bool), which only filter what is under them.
// everyInputHasSeries explains an empty result whose selectors all have series.
const everyInputHasSeries = "every input has series: the join or filter drops them"

// hasFilter reports whether e compares anything with a constant without `bool` (a filter
// that leaves nothing on a healthy system, as in count(up == 0)).
func hasFilter(e promparser.Expr) bool {
	found := false
	promparser.Inspect(e, func(n promparser.Node, _ []promparser.Node) error {
		if b, ok := n.(*promparser.BinaryExpr); ok && b.Op.IsComparisonOperator() && !b.ReturnBool && (isConstant(b.LHS) || isConstant(b.RHS)) {
			found = true
		}
		return nil
	})
	return found
}

func unwrapFilters(e promparser.Expr) promparser.Expr {
	for {
		switch n := e.(type) {
		case *promparser.ParenExpr:
			e = n.Expr
			continue
		case *promparser.BinaryExpr:
			if n.Op == promparser.LOR && isConstant(n.RHS) {
				e = n.LHS
				continue
			}
			if n.Op.IsComparisonOperator() && !n.ReturnBool {
				if isConstant(n.RHS) {
					e = n.LHS
					continue
				}
				if isConstant(n.LHS) {
					e = n.RHS
					continue
				}
			}
		}
		return e
	}
}

// isConstant tells whether e is a number or vector(number).
func isConstant(e promparser.Expr) bool {
	switch n := e.(type) {
	case *promparser.ParenExpr:
		return isConstant(n.Expr)
	case *promparser.NumberLiteral:
		return true
	case *promparser.Call:
		return n.Func.Name == "vector" && len(n.Args) == 1 && isConstant(n.Args[0])
	}
	return false
}

// skipped tells whether q reads a metric whose name starts with one of prefixes.
func skipped(q string, prefixes []string) bool {
	if len(prefixes) == 0 {
		return false
	}
	expr, err := promQL.ParseExpr(q)
	if err != nil {
		return false
	}
	skip := false
	promparser.Inspect(expr, func(n promparser.Node, _ []promparser.Node) error {
		if vs, ok := n.(*promparser.VectorSelector); ok {
			for _, pre := range prefixes {
				if strings.HasPrefix(vs.Name, pre) {
					skip = true
				}
			}
		}
		return nil
	})
	return skip
}
