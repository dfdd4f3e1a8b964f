package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/backendtest"
	"github.com/sondehq/sonde/exporters/loki/write/lokitest"
)

var updateDocs = flag.Bool("update-docs", false, "write the README's screenshot docs/ui-graph.png from TestUILargeGraph")

// uiComponent is what the tests read back from /api/v1/components.
type uiComponent struct {
	ID     string `json:"id"`
	Health struct {
		State string `json:"state"`
	} `json:"health"`
}

func apiComponents(t *testing.T, s *sonde) []uiComponent {
	t.Helper()
	var cs []uiComponent
	backendtest.FetchJSON(t, s.URL()+"/api/v1/components", &cs)
	return cs
}

// appendLines appends lines to a file.
func appendLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	defer f.Close()
	for _, l := range lines {
		_, err := fmt.Fprintln(f, l)
		require.NoError(t, err)
	}
}

const uiConfig = `
components:
  loki.source.file/app:
    paths: [%q]
    labels: {job: shop}
    batch_wait: 100ms
    forward_to: [loki.process/parse]
  loki.process/parse:
    stages:
      - logfmt: {mapping: {level: ""}}
      - labels: {level: ""}
    forward_to: [loki.write/default]
  loki.write/default:
    endpoints:
      - url: %s
        batch_wait: 100ms
        basic_auth: {username: sonde, password: hunter2}
  prometheus.exporter.self/self: {}
  prometheus.exporter.gpu/gpu: {}
  prometheus.scrape/self:
    targets: [prometheus.exporter.self/self]
    forward_to: [prometheus.serve/local]
    scrape_interval: 1s
  prometheus.serve/local: {}
`

// TestUI drives the UI in a real headless Chromium against a running sonde: the graph, a
// component's details (by mouse and by keyboard), its live view, a narrow window and a
// rejected reload. Screenshots of each view are saved as artifacts.
func TestUI(t *testing.T) {
	loki := lokitest.NewReceiver(t)
	logFile := filepath.Join(t.TempDir(), "app.log")
	appendLines(t, logFile, `level=info msg="shop started"`, `level=warn msg="cache cold"`)
	cfg := writeConfig(t, fmt.Sprintf(uiConfig, logFile, loki.URL))
	s := newSonde(t, "--config="+cfg)
	s.waitReady(t)
	api := apiComponents(t, s)
	require.Len(t, api, 7)

	b := newBrowser(t)
	b.navigate(s.URL() + "/")

	t.Run("graph shows every component with its health", func(t *testing.T) {
		b := b.in(t)
		b.eventually(15*time.Second, `return document.querySelectorAll('#graph g.node').length === 7 &&
			document.querySelectorAll('#graph g.rate text').length > 0 &&
			[...document.querySelectorAll('#graph g.rate text')].some(t => /[1-9][0-9.]* samples\/s/.test(t.textContent))`,
			"graph with 7 boxes and a sample rate on the scrape's arrow")
		for _, c := range api {
			want := c.Health.State
			if c.ID == "prometheus.exporter.gpu/gpu" {
				require.Contains(t, []string{"healthy", "unavailable"}, want, "no GPU here: unavailable, not an error")
			} else {
				require.Equal(t, "healthy", want, c.ID)
			}
			got := b.str(`const g = [...document.querySelectorAll('#graph g.node')].find(g => g.dataset.id === arguments[0]);
				return g ? g.dataset.health + ' ' + g.getAttribute('class') : 'missing';`, c.ID)
			require.Equal(t, want+" node h-"+want, got, c.ID)
		}
		// One arrow per edge: 3 logs, 1 metrics, 1 targets.
		require.Equal(t, "logs,logs,metrics,targets",
			b.str(`return [...document.querySelectorAll('#graph path.edge')].map(p => p.dataset.kind).sort().join(',')`))
		require.Equal(t, "1 target", b.str(`return document.querySelector('#graph g.rate[data-kind="targets"] text').textContent`))
		// Sources left, sinks right.
		var xs map[string]float64
		b.js(&xs, `const o = {}; document.querySelectorAll('#graph g.node').forEach(g => { o[g.dataset.id] = g.getBoundingClientRect().x; }); return o;`)
		require.Less(t, xs["loki.source.file/app"], xs["loki.process/parse"])
		require.Less(t, xs["loki.process/parse"], xs["loki.write/default"])
		require.Less(t, xs["prometheus.exporter.self/self"], xs["prometheus.scrape/self"])
		require.Less(t, xs["prometheus.scrape/self"], xs["prometheus.serve/local"])
		b.eventually(10*time.Second, `return document.getElementById('reload').dataset.state === 'ok'`)
		require.Contains(t, b.str(`return document.getElementById('reload').textContent`), cfg)
		b.screenshot("graph")
	})

	t.Run("clicking a component shows its details", func(t *testing.T) {
		b := b.in(t)
		b.click(b.find(`#graph g.node[data-id="loki.write/default"]`))
		b.eventually(10*time.Second, `const d = document.getElementById('details');
			return !d.hidden && document.getElementById('d-title').textContent === 'loki.write/default' &&
				document.getElementById('d-args').textContent.includes('password: <secret>') &&
				document.getElementById('d-metrics').textContent.includes('sonde_loki_write_entries_received_total{component_id="loki.write/default"}') &&
				document.getElementById('d-edges').textContent.includes('from loki.process/parse')`,
			"details of loki.write/default")
		require.NotContains(t, b.str(`return document.getElementById('details').textContent`), "hunter2")
		require.Equal(t, "healthy", b.str(`return document.getElementById('d-health').dataset.health`))
		require.Equal(t, "#loki.write%2Fdefault", b.str(`return location.hash`))
		b.screenshot("details")

		// A scrape's exports: each target's health, last scrape, duration and error.
		b.click(b.find(`#graph g.node[data-id="prometheus.scrape/self"]`))
		b.eventually(10*time.Second, `const t = document.getElementById('d-exports').textContent;
			return t.includes('1 scrape targets') && t.includes('/metrics') && t.includes('up') && t.includes(' ms')`,
			"scrape targets in the details")
		// A discovery-like component: the targets it publishes.
		b.click(b.find(`#graph g.node[data-id="prometheus.exporter.self/self"]`))
		b.eventually(10*time.Second, `return document.getElementById('d-exports').textContent.includes('1 target published')`)
	})

	t.Run("keyboard: tab to a box, Enter opens it, Escape closes", func(t *testing.T) {
		b := b.in(t)
		b.navigate(s.URL() + "/") // start tabbing from the top of a fresh page
		b.eventually(15*time.Second, `return document.querySelectorAll('#graph g.node').length === 7`)
		var focused string
		for range 10 {
			b.press(keyTab)
			focused = b.str(`return document.activeElement.dataset ? (document.activeElement.dataset.id || '') : ''`)
			if focused != "" {
				break
			}
		}
		require.NotEmpty(t, focused, "a graph box takes the focus within 10 tabs")
		first := b.str(`return document.querySelector('#graph g.node').dataset.id`)
		require.Equal(t, first, focused, "boxes are tabbed in reading order")
		b.press(keyTab)
		second := b.str(`return document.activeElement.dataset.id || ''`)
		require.NotEqual(t, first, second)
		require.NotEmpty(t, second)
		b.press(keyEnter)
		b.eventually(10*time.Second, `return !document.getElementById('details').hidden &&
			document.getElementById('d-title').textContent === `+jsString(second))
		require.Equal(t, "d-title", b.str(`return document.activeElement.id`), "focus moves to the details")
		b.press(keyEscape)
		b.eventually(5*time.Second, `return document.getElementById('details').hidden && document.activeElement.dataset.id === `+jsString(second),
			"Escape closes the details and gives the focus back to the box")
	})

	t.Run("live view shows log lines written to the tailed file", func(t *testing.T) {
		b := b.in(t)
		b.click(b.find(`#graph g.node[data-id="loki.source.file/app"]`))
		b.eventually(10*time.Second, `return document.getElementById('d-live-state').textContent.includes('streaming')`)
		marker := fmt.Sprintf("checkout-%d", time.Now().UnixNano())
		n := 0
		require.Eventually(t, func() bool {
			n++
			appendLines(t, logFile, fmt.Sprintf(`level=info msg="%s" n=%d`, marker, n))
			return strings.Contains(b.str(`return document.getElementById('d-live').textContent`), marker)
		}, 20*time.Second, 500*time.Millisecond, "a line written to the tailed file shows in the live view within seconds")
		row := b.str(`return [...document.querySelectorAll('#d-live li')].find(li => li.textContent.includes(` + jsString(marker) + `)).textContent`)
		require.Contains(t, row, "→ loki.process/parse")
		require.Contains(t, row, `job="shop"`)
		b.screenshot("live")

		// The processor's live view shows its input and its output (level became a label).
		b.click(b.find(`#graph g.node[data-id="loki.process/parse"]`))
		b.eventually(10*time.Second, `return document.getElementById('d-live-state').textContent.includes('streaming')`)
		require.Eventually(t, func() bool {
			appendLines(t, logFile, `level=error msg="payment failed"`)
			txt := b.str(`return document.getElementById('d-live').textContent`)
			return strings.Contains(txt, "← loki.source.file/app") && strings.Contains(txt, `→ loki.write/default`) &&
				strings.Contains(txt, `level="error"`)
		}, 20*time.Second, 500*time.Millisecond)
		b.screenshot("live-process")

		// Closing the details ends the stream; the pipeline keeps flowing.
		b.press(keyEscape)
		require.Eventually(t, func() bool { return len(loki.Accepted()) > 0 }, 20*time.Second, 100*time.Millisecond)
	})

	t.Run("narrow window", func(t *testing.T) {
		b := b.in(t)
		b.setWindowSize(480, 900)
		defer b.setWindowSize(1400, 900)
		b.eventually(10*time.Second, `const s = document.querySelector('#graph svg'); return s && s.dataset.orientation === 'vertical'`,
			"layers become rows in a narrow window")
		requireReadableBoxes(t, b, 7)
		var pageWidth float64
		b.js(&pageWidth, `return document.documentElement.scrollWidth`)
		require.LessOrEqual(t, pageWidth, 480.0, "the page itself does not scroll sideways")
		b.click(b.find(`#graph g.node[data-id="loki.process/parse"]`))
		b.eventually(10*time.Second, `return !document.getElementById('details').hidden`)
		b.screenshot("narrow")
		b.press(keyEscape)
	})

	t.Run("a rejected reload shows its error", func(t *testing.T) {
		b := b.in(t)
		bad := fmt.Sprintf(uiConfig, logFile, loki.URL) + "  loki.process/broken:\n    forward_to: [loki.write/nowhere]\n"
		require.NoError(t, os.WriteFile(cfg, []byte(bad), 0o644))
		code, body := s.reload(t)
		require.Equal(t, http.StatusBadRequest, code, body)
		require.Contains(t, body, `no component "loki.write/nowhere"`)
		b.eventually(10*time.Second, `const b = document.getElementById('reload');
			return b.dataset.state === 'error' && b.textContent.includes('Reload rejected') &&
				b.textContent.includes('no component "loki.write/nowhere"')`, "the banner shows the rejected reload")
		require.Contains(t, b.str(`return document.getElementById('reload').textContent`), cfg+":")
		require.Equal(t, 7, len(b.findAll(`#graph g.node`)), "the running graph is unchanged")
		b.screenshot("reload-error")
	})
}

// requireReadableBoxes checks that the graph shows n boxes, none overlapping another, none
// shrunk below three quarters of its size.
func requireReadableBoxes(t *testing.T, b *browser, n int) {
	t.Helper()
	var boxes []struct {
		ID            string
		X, Y, W, H, N float64
	}
	b.js(&boxes, `return [...document.querySelectorAll('#graph g.node')].map(g => {
		const r = g.querySelector('rect.box'), b = r.getBoundingClientRect();
		return {ID: g.dataset.id, X: b.x, Y: b.y, W: b.width, H: b.height, N: r.width.baseVal.value}; })`)
	require.Len(t, boxes, n)
	for i, a := range boxes {
		require.GreaterOrEqual(t, a.W, 0.75*a.N-0.01, "%s: boxes shrink little, text stays readable", a.ID)
		for _, c := range boxes[i+1:] {
			overlap := a.X < c.X+c.W && c.X < a.X+a.W && a.Y < c.Y+c.H && c.Y < a.Y+a.H
			require.False(t, overlap, "boxes overlap: %+v %+v", a, c)
		}
	}
}

// largeConfig is a 31-component graph: six metrics pipelines through discovery.relabel and
// three prometheus.relabel into one prometheus.serve, and three log files through two
// loki.process into two loki.write and a loki.echo.
func largeConfig(logDir, lokiURL string) (string, int) {
	var b strings.Builder
	n := 0
	add := func(format string, a ...any) {
		fmt.Fprintf(&b, format, a...)
		n++
	}
	b.WriteString("components:\n")
	for i, team := range []string{"api", "web", "db", "cache", "queue", "search"} {
		add("  prometheus.exporter.self/%s: {}\n", team)
		add("  discovery.relabel/%s:\n    targets: [prometheus.exporter.self/%s]\n    rules:\n      - {target_label: team, replacement: %s}\n", team, team, team)
		add("  prometheus.scrape/%s:\n    targets: [discovery.relabel/%s]\n    forward_to: [prometheus.relabel/%s]\n    scrape_interval: 5s\n",
			team, team, []string{"keep_up", "drop_go", "rename"}[i%3])
	}
	for _, r := range []string{"keep_up", "drop_go", "rename"} {
		add("  prometheus.relabel/%s:\n    forward_to: [prometheus.serve/local]\n    rules:\n      - {source_labels: [__name__], regex: 'go_gc_.*', action: drop}\n", r)
	}
	add("  prometheus.serve/local: {}\n")
	add("  prometheus.exporter.gpu/gpu: {}\n")
	for i, f := range []string{"checkout", "payments", "audit"} {
		add("  loki.source.file/%s:\n    paths: [%q]\n    labels: {app: %s}\n    batch_wait: 200ms\n    forward_to: [loki.process/%s]\n",
			f, filepath.Join(logDir, f+".log"), f, []string{"logfmt", "logfmt", "audit"}[i])
	}
	add("  loki.process/logfmt:\n    stages:\n      - logfmt: {mapping: {level: \"\"}}\n      - labels: {level: \"\"}\n    forward_to: [loki.write/default, loki.echo/debug]\n")
	add("  loki.process/audit:\n    forward_to: [loki.write/default, loki.write/archive]\n")
	add("  loki.write/default:\n    endpoints:\n      - url: %s\n        bearer_token: s3cr3t\n", lokiURL)
	add("  loki.write/archive:\n    endpoints:\n      - url: %s\n", lokiURL)
	add("  loki.echo/debug:\n    output: stderr\n")
	return b.String(), n
}

// TestUILargeGraph lays out 31 components readably, in a wide and in a narrow window.
// With -update-docs it writes the README's screenshot, docs/ui-graph.png.
func TestUILargeGraph(t *testing.T) {
	loki := lokitest.NewReceiver(t)
	logDir := t.TempDir()
	for _, f := range []string{"checkout", "payments", "audit"} {
		appendLines(t, filepath.Join(logDir, f+".log"), `level=info msg="started"`)
	}
	cfgText, n := largeConfig(logDir, loki.URL)
	require.GreaterOrEqual(t, n, 30)
	s := newSonde(t, "--config="+writeConfig(t, cfgText))
	s.waitReady(t)
	require.Len(t, apiComponents(t, s), n)

	b := newBrowser(t)
	b.setWindowSize(1920, 1080)
	b.navigate(s.URL() + "/#" + url.QueryEscape("loki.process/logfmt"))
	b.eventually(20*time.Second, fmt.Sprintf(`return document.querySelectorAll('#graph g.node').length === %d &&
		[...document.querySelectorAll('#graph g.rate text')].filter(t => /[1-9][0-9.k]* samples\/s/.test(t.textContent)).length >= 3`, n),
		"every box, and sample rates on the arrows")
	require.Equal(t, "horizontal", b.str(`return document.querySelector('#graph svg').dataset.orientation`))
	require.True(t, b.truth(`const g = document.getElementById('graph'); return g.scrollWidth <= g.clientWidth`),
		"31 components fit a 1920 pixel wide window next to the details")
	// One arrow per reference: 6 × (relabel's targets, scrape's targets and forward_to), 3
	// prometheus.relabel forward_to, 3 loki.source.file forward_to, 2 × 2 loki.process forward_to.
	require.Len(t, b.findAll(`#graph path.edge`), 6*3+3+3+2*2)
	requireReadableBoxes(t, b, n)
	var layers map[string]float64
	b.js(&layers, `const o = {}; document.querySelectorAll('#graph g.node').forEach(g => { o[g.dataset.id] = g.getBoundingClientRect().x; }); return o;`)
	for id, x := range layers {
		switch {
		case strings.HasPrefix(id, "prometheus.exporter.") || strings.HasPrefix(id, "loki.source."):
			require.Equal(t, layers["prometheus.exporter.self/api"], x, "%s: sources in the first column", id)
		case strings.HasPrefix(id, "prometheus.serve/") || strings.HasPrefix(id, "loki.write/") || strings.HasPrefix(id, "loki.echo/"):
			require.Equal(t, layers["prometheus.serve/local"], x, "%s: sinks in the last column", id)
		}
	}
	// The deep link opened the processor's details; its live view fills as lines arrive.
	b.eventually(10*time.Second, `return document.getElementById('d-title').textContent === 'loki.process/logfmt' &&
		document.getElementById('d-live-state').textContent.includes('streaming')`)
	i := 0
	require.Eventually(t, func() bool {
		i++
		appendLines(t, filepath.Join(logDir, "checkout.log"), fmt.Sprintf(`level=info msg="order placed" order=%d total=%d.99`, 1000+i, 10+i%90))
		appendLines(t, filepath.Join(logDir, "payments.log"), fmt.Sprintf(`level=warn msg="card declined, retrying" order=%d`, 1000+i))
		return b.truth(`return document.querySelectorAll('#d-live li:not(.empty)').length >= 6 &&
			[...document.querySelectorAll('#graph g.rate text')].some(t => /[1-9][0-9.]* lines\/s/.test(t.textContent))`)
	}, 30*time.Second, 300*time.Millisecond)
	shot := b.screenshot("large-graph")
	if *updateDocs {
		png, err := os.ReadFile(shot)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join("..", "..", "docs", "ui-graph.png"), png, 0o644))
	}

	b.setWindowSize(480, 1000)
	b.eventually(10*time.Second, `return document.querySelector('#graph svg').dataset.orientation === 'vertical'`)
	requireReadableBoxes(t, b, n)
	b.screenshot("large-graph-narrow")
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
