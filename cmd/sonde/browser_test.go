package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/backendtest"
)

// A headless Chromium driven through chromedriver's W3C WebDriver HTTP API with plain
// net/http: no browser-automation module is needed. Both come from Debian (`chromium`,
// `chromium-driver`, installed by `make deps`); a missing one fails the test.

// webElementKey is how WebDriver names element references in JSON.
const webElementKey = "element-6066-11e4-a52e-4f735466cecf"

// browser is one WebDriver session.
type browser struct {
	t         *testing.T
	session   string // http://127.0.0.1:<port>/session/<id>
	artifacts string
	client    *http.Client
}

// artifactsDir is where screenshots go: $SONDE_ARTIFACTS, or a temporary directory that is
// kept after the test (its path is logged).
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SONDE_ARTIFACTS")
	if dir == "" {
		var err error
		dir, err = os.MkdirTemp("", "sonde-ui-artifacts-")
		require.NoError(t, err)
	}
	dir = filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_"))
	require.NoError(t, os.MkdirAll(dir, 0o755))
	t.Logf("screenshots: %s", dir)
	return dir
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	backendtest.SkipShort(t, "a browser (chromedriver, chromium)")
	driver := backendtest.Installed(t, "chromedriver", "SONDE_CHROMEDRIVER")
	chromium := backendtest.Installed(t, "chromium", "SONDE_CHROMIUM")
	port := backendtest.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	proc := &backendtest.Process{Name: "chromedriver", ReadyTimeout: 30 * time.Second}
	proc.StopAtEnd(t, proc.Kill)
	require.NoError(t, proc.Start(driver, []string{fmt.Sprintf("--port=%d", port), "--allowed-ips=127.0.0.1"}, nil,
		backendtest.HTTPOK(base+"/status")))

	b := &browser{t: t, artifacts: artifactsDir(t), client: &http.Client{Timeout: 90 * time.Second}}
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "chrome",
		"goog:chromeOptions": map[string]any{
			"binary": chromium,
			"args": []string{
				"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
				"--disable-background-networking", "--disable-component-update", "--disable-sync",
				"--disable-dev-shm-usage", "--user-data-dir=" + t.TempDir(), "--window-size=1400,900",
			},
		},
	}}}
	var created struct {
		SessionID string `json:"sessionId"`
	}
	b.do(http.MethodPost, base+"/session", caps, &created)
	require.NotEmpty(t, created.SessionID)
	b.session = base + "/session/" + created.SessionID
	t.Cleanup(func() { b.do(http.MethodDelete, b.session, nil, nil) })
	return b
}

// in returns the session for use in the (sub)test t, so that failures are reported there.
func (b *browser) in(t *testing.T) *browser {
	c := *b
	c.t = t
	return &c
}

// do sends one WebDriver command and decodes its "value" into out.
func (b *browser) do(method, url string, body, out any) {
	b.t.Helper()
	require.NoError(b.t, b.try(method, url, body, out))
}

func (b *browser) try(method, url string, body, out any) error {
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var env struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, raw)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, env.Value)
	}
	if out != nil {
		return json.Unmarshal(env.Value, out)
	}
	return nil
}

func (b *browser) navigate(url string) {
	b.do(http.MethodPost, b.session+"/url", map[string]string{"url": url}, nil)
}

func (b *browser) setWindowSize(w, h int) {
	b.do(http.MethodPost, b.session+"/window/rect", map[string]int{"width": w, "height": h}, nil)
}

// find returns the first element matching a CSS selector, or "" when there is none.
func (b *browser) find(css string) string {
	els := b.findAll(css)
	if len(els) == 0 {
		return ""
	}
	return els[0]
}

func (b *browser) findAll(css string) []string {
	var refs []map[string]string
	b.do(http.MethodPost, b.session+"/elements", map[string]string{"using": "css selector", "value": css}, &refs)
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = r[webElementKey]
	}
	return out
}

func (b *browser) click(el string) {
	b.do(http.MethodPost, b.session+"/element/"+el+"/click", map[string]any{}, nil)
}

// js runs a script (a function body; arguments as `arguments[i]`) and decodes its result.
func (b *browser) js(out any, script string, args ...any) {
	b.t.Helper()
	if args == nil {
		args = []any{}
	}
	b.do(http.MethodPost, b.session+"/execute/sync", map[string]any{"script": script, "args": args}, out)
}

// str runs a script returning a string.
func (b *browser) str(script string, args ...any) string {
	var s string
	b.js(&s, script, args...)
	return s
}

// truth runs a script returning a boolean.
func (b *browser) truth(script string, args ...any) bool {
	var ok bool
	b.js(&ok, script, args...)
	return ok
}

// elementArg passes an element to js.
func elementArg(el string) map[string]string { return map[string]string{webElementKey: el} }

// press sends key presses (W3C key values, e.g. "\uE004" Tab, "\uE007" Enter) to the page.
func (b *browser) press(keys ...string) {
	var acts []map[string]string
	for _, k := range keys {
		acts = append(acts, map[string]string{"type": "keyDown", "value": k}, map[string]string{"type": "keyUp", "value": k})
	}
	b.do(http.MethodPost, b.session+"/actions", map[string]any{"actions": []any{
		map[string]any{"type": "key", "id": "keyboard", "actions": acts},
	}}, nil)
}

// Keys in the W3C WebDriver key table.
const (
	keyTab    = "\uE004"
	keyEnter  = "\uE007"
	keyEscape = "\uE00C"
)

// screenshot saves the window as <artifacts>/<name>.png and returns the path.
func (b *browser) screenshot(name string) string {
	b.t.Helper()
	var enc string
	b.do(http.MethodGet, b.session+"/screenshot", nil, &enc)
	png, err := base64.StdEncoding.DecodeString(enc)
	require.NoError(b.t, err)
	p := filepath.Join(b.artifacts, name+".png")
	require.NoError(b.t, os.WriteFile(p, png, 0o644))
	return p
}

// eventually polls cond (a script returning a boolean) until it holds.
func (b *browser) eventually(timeout time.Duration, script string, msgAndArgs ...any) {
	b.t.Helper()
	require.Eventually(b.t, func() bool {
		var ok bool
		if err := b.try(http.MethodPost, b.session+"/execute/sync", map[string]any{"script": script, "args": []any{}}, &ok); err != nil {
			b.t.Logf("script: %v", err)
			return false
		}
		return ok
	}, timeout, 100*time.Millisecond, msgAndArgs...)
}
