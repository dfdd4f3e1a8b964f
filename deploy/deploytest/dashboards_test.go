package deploytest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	promparser "github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
)

// dashboard is the part of a Grafana dashboard the test reads.
type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int                      `json:"id"`
	Type       string                   `json:"type"`
	Title      string                   `json:"title"`
	Datasource *datasource              `json:"datasource"`
	GridPos    struct{ H, W, X, Y int } `json:"gridPos"`
	Targets    []struct {
		RefID      string      `json:"refId"`
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Definition string          `json:"definition"`
	Datasource *datasource     `json:"datasource"`
	IncludeAll bool            `json:"includeAll"`
	AllValue   string          `json:"allValue"`
}

// logLabels are the stream labels sonde's log pipeline sets (loki.source.file with
// path_labels: kubernetes, plus stream) and that a Loki query may select on.
var logLabels = map[string]bool{"namespace": true, "pod": true, "container": true, "stream": true, "node": true, "job": true}

// TestDashboards: every dashboard is valid Grafana JSON with sound panels, and its queries
// only use metric names sonde emits: names in sonde's code, or in the exporters' sets
// (testdata/exporter-metrics.txt). Loki queries select only on the labels sonde sets.
func TestDashboards(t *testing.T) {
	known := knownMetrics(t)
	uids := map[string]string{}
	for name, content := range dashboardFiles(t) {
		t.Run(name, func(t *testing.T) {
			var d dashboard
			dec := json.NewDecoder(strings.NewReader(content))
			require.NoError(t, dec.Decode(&d))
			require.NotEmpty(t, d.UID)
			require.LessOrEqual(t, len(d.UID), 40, "Grafana uids are at most 40 characters")
			require.NotContains(t, uids, d.UID, "uid %s is also used by %s", d.UID, uids[d.UID])
			uids[d.UID] = name
			require.NotEmpty(t, d.Title)
			require.GreaterOrEqual(t, d.SchemaVersion, 36)

			vars := map[string]variable{}
			for _, v := range d.Templating.List {
				vars[v.Name] = v
			}
			var used []string
			for _, v := range d.Templating.List {
				if v.Type == "query" {
					used = append(used, labelValuesMetrics(t, v)...)
				}
			}

			ids := map[int]bool{}
			var boxes []panel
			var queries int
			for _, p := range flatten(d.Panels) {
				require.False(t, ids[p.ID], "panel id %d used twice", p.ID)
				ids[p.ID] = true
				require.NotEmpty(t, p.Title, "panel %d", p.ID)
				require.True(t, p.GridPos.W > 0 && p.GridPos.H > 0 && p.GridPos.X+p.GridPos.W <= 24,
					"panel %q: gridPos %+v", p.Title, p.GridPos)
				boxes = append(boxes, p)
				if p.Type == "row" {
					continue
				}
				require.NotNil(t, p.Datasource, "panel %q has no datasource", p.Title)
				ds := datasourceVar(t, vars, p.Datasource)
				require.NotEmpty(t, p.Targets, "panel %q has no query", p.Title)
				for _, q := range p.Targets {
					require.NotEmpty(t, q.Expr, "panel %q query %s", p.Title, q.RefID)
					if q.Datasource != nil {
						require.Equal(t, *p.Datasource, *q.Datasource, "panel %q query %s", p.Title, q.RefID)
					}
					queries++
					switch ds {
					case "prometheus":
						used = append(used, promMetrics(t, p.Title, q.Expr)...)
					case "loki":
						checkLogQL(t, vars, p.Title, q.Expr)
					}
				}
			}
			require.Positive(t, queries)
			requireNoOverlap(t, boxes)
			for _, m := range used {
				require.True(t, known.has(m), "%s: metric %s is neither in sonde's code nor in testdata/exporter-metrics.txt", name, m)
			}
		})
	}
}

func flatten(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, flatten(p.Panels)...)
	}
	return out
}

// datasourceVar checks that a panel's datasource is a datasource variable of the dashboard
// (so the dashboard works in any Grafana) and returns its type.
func datasourceVar(t *testing.T, vars map[string]variable, ds *datasource) string {
	t.Helper()
	name := strings.TrimSuffix(strings.TrimPrefix(ds.UID, "${"), "}")
	v, ok := vars[name]
	require.True(t, ok && v.Type == "datasource", "datasource %q is not a datasource variable", ds.UID)
	var typ string
	require.NoError(t, json.Unmarshal(v.Query, &typ))
	require.Equal(t, typ, ds.Type, "datasource %q", ds.UID)
	return typ
}

// grafanaVars are Grafana's interval variables, replaced by a duration before parsing.
var grafanaVars = regexp.MustCompile(`\$__(rate_interval|interval|auto|range)`)

// promMetrics parses a PromQL query and returns the metric names it selects.
func promMetrics(t *testing.T, panel, expr string) []string {
	t.Helper()
	e, err := promparser.NewParser(promparser.Options{}).ParseExpr(grafanaVars.ReplaceAllString(expr, "5m"))
	require.NoError(t, err, "panel %q: %s", panel, expr)
	var names []string
	promparser.Inspect(e, func(n promparser.Node, _ []promparser.Node) error {
		if vs, ok := n.(*promparser.VectorSelector); ok {
			require.NotEmpty(t, vs.Name, "panel %q selects no metric name: %s", panel, expr)
			names = append(names, vs.Name)
		}
		return nil
	})
	return names
}

var labelValuesRe = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_]+)\)$`)

// labelValuesMetrics returns the metric a label_values(...) variable query reads.
func labelValuesMetrics(t *testing.T, v variable) []string {
	t.Helper()
	m := labelValuesRe.FindStringSubmatch(v.Definition)
	require.NotNil(t, m, "variable %s: want label_values(metric, label), got %q", v.Name, v.Definition)
	return promMetrics(t, "variable "+v.Name, m[1])
}

var (
	streamSelectorRe = regexp.MustCompile(`\{([^}]*)\}`)
	matcherRe        = regexp.MustCompile(`^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"\s*$`)
)

// checkLogQL checks a Loki query's stream selectors: only labels sonde sets, and at least
// one matcher that cannot match the empty string (Loki refuses queries without one; a
// variable's "All" must then be ".+", not ".*").
func checkLogQL(t *testing.T, vars map[string]variable, panel, expr string) {
	t.Helper()
	sels := streamSelectorRe.FindAllStringSubmatch(expr, -1)
	require.NotEmpty(t, sels, "panel %q: no stream selector in %s", panel, expr)
	for _, sel := range sels {
		nonEmpty := false
		for _, m := range strings.Split(sel[1], ",") {
			mm := matcherRe.FindStringSubmatch(m)
			require.NotNil(t, mm, "panel %q: matcher %q in %s", panel, m, expr)
			require.True(t, logLabels[mm[1]], "panel %q: sonde sets no log label %q", panel, mm[1])
			value := mm[3]
			if v, ok := vars[strings.TrimPrefix(value, "$")]; ok && strings.HasPrefix(value, "$") {
				require.True(t, v.IncludeAll, "variable %s", v.Name)
				value = v.AllValue
			}
			switch mm[2] {
			case "=":
				nonEmpty = nonEmpty || value != ""
			case "=~":
				nonEmpty = nonEmpty || !regexp.MustCompile("^(?:"+value+")$").MatchString("")
			}
		}
		require.True(t, nonEmpty, "panel %q: Loki needs a matcher that cannot match empty: %s", panel, expr)
	}
}

func requireNoOverlap(t *testing.T, ps []panel) {
	t.Helper()
	for i, a := range ps {
		for _, b := range ps[i+1:] {
			ga, gb := a.GridPos, b.GridPos
			overlap := ga.X < gb.X+gb.W && gb.X < ga.X+ga.W && ga.Y < gb.Y+gb.H && gb.Y < ga.Y+ga.H
			require.False(t, overlap, "panels %q and %q overlap", a.Title, b.Title)
		}
	}
}

// metricSet is what a metric name is checked against: the exporters' names, and the string
// literals of each of sonde's Go files (metric names are written whole, or joined from a
// namespace, subsystem and name, or from a prefix and a name, in the same file).
type metricSet struct {
	exporters map[string]bool
	files     []map[string]bool
}

func (s metricSet) has(name string) bool {
	if s.exporters[name] || s.inCode(name) {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && s.inCode(base) {
			return true
		}
	}
	return false
}

func (s metricSet) inCode(name string) bool {
	for _, lits := range s.files {
		if lits[name] {
			return true
		}
		for i := 1; i < len(name); i++ {
			// prefix + name, e.g. "sonde_loki_source_file_" + "read_lines_total"
			if lits[name[:i]] && lits[name[i:]] {
				return true
			}
			if name[i] != '_' {
				continue
			}
			// namespace_name
			if lits[name[:i]] && lits[name[i+1:]] {
				return true
			}
			// namespace_subsystem_name
			for j := i + 2; j < len(name); j++ {
				if name[j] == '_' && lits[name[:i]] && lits[name[i+1:j]] && lits[name[j+1:]] {
					return true
				}
			}
		}
	}
	return false
}

// knownMetrics reads testdata/exporter-metrics.txt and the string literals of sonde's
// non-test Go files.
func knownMetrics(t *testing.T) metricSet {
	t.Helper()
	s := metricSet{exporters: map[string]bool{}}
	sc := bufio.NewScanner(bytes.NewReader(mustRead(t, filepath.Join("testdata", "exporter-metrics.txt"))))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			s.exporters[line] = true
		}
	}
	root := repoRoot(t)
	for _, dir := range []string{"cmd/sonde", "components", "discovery", "exporters", "pipeline"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			lits, err := stringLiterals(path)
			if err == nil && len(lits) > 0 {
				s.files = append(s.files, lits)
			}
			return err
		})
		require.NoError(t, err)
	}
	require.NotEmpty(t, s.files)
	return s
}

func stringLiterals(path string) (map[string]bool, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := parser.ParseFile(token.NewFileSet(), path, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			if s, err := strconv.Unquote(lit.Value); err == nil && s != "" {
				out[s] = true
			}
		}
		return true
	})
	return out, nil
}

// TestExporterMetricsNoDuplicates keeps testdata/exporter-metrics.txt free of duplicates.
func TestExporterMetricsNoDuplicates(t *testing.T) {
	seen := map[string]bool{}
	var dups []string
	sc := bufio.NewScanner(bytes.NewReader(mustRead(t, filepath.Join("testdata", "exporter-metrics.txt"))))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if seen[line] {
			dups = append(dups, line)
		}
		seen[line] = true
	}
	sort.Strings(dups)
	require.Empty(t, dups)
}
