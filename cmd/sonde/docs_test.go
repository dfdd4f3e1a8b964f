package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/internal/docgen"
)

var updateComponentDocs = flag.Bool("update-component-docs", false, "write docs/components/ from the registered components (make docs)")

// undocumentedAllowed are arguments ("<type> <key>") that may lack a description for now:
// their package is being changed by others at the time of writing, who will write these
// doc comments and delete the entries. An entry whose argument has a description fails
// the test, so the list only shrinks. Only arguments of exporters/prometheus/remotewrite,
// exporters/prometheus/serve, components/prometheus/scrape and
// components/loki/source/kubernetesevents may be listed here; every other package writes
// its doc comments.
var undocumentedAllowed = []string{}

// TestComponentDocs fails when docs/components/ is not what the registered components'
// source says (run `make docs`), and lists every registered component and argument that
// has no description (write its doc comment).
func TestComponentDocs(t *testing.T) {
	reg, err := registry()
	require.NoError(t, err)
	res, err := docgen.Generate(reg, filepath.Join("..", ".."))
	require.NoError(t, err)

	t.Run("described", func(t *testing.T) {
		allowed := map[string]bool{}
		for _, a := range undocumentedAllowed {
			allowed[a] = false
		}
		var missing []string
		for _, m := range res.Missing {
			key := m.Type + " " + m.Key
			if _, ok := allowed[key]; ok {
				allowed[key] = true
				continue
			}
			missing = append(missing, m.String())
		}
		var stale []string
		for a, used := range allowed {
			if !used {
				stale = append(stale, a)
			}
		}
		slices.Sort(stale)
		if len(missing) > 0 {
			t.Errorf("%d components or arguments have no description; write the doc comment named in each line, then run `make docs`:\n%s",
				len(missing), strings.Join(missing, "\n"))
		}
		if len(stale) > 0 {
			t.Errorf("these have a description now: remove them from undocumentedAllowed in cmd/sonde/docs_test.go:\n%s", strings.Join(stale, "\n"))
		}
	})

	t.Run("up to date", func(t *testing.T) {
		dir := filepath.Join("..", "..", filepath.FromSlash(docgen.Dir))
		if *updateComponentDocs {
			require.NoError(t, os.MkdirAll(dir, 0o755))
			old, _ := filepath.Glob(filepath.Join(dir, "*.md"))
			for _, f := range old {
				if _, keep := res.Files[filepath.Base(f)]; !keep {
					require.NoError(t, os.Remove(f))
				}
			}
			for name, b := range res.Files {
				require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
			}
		}
		var stale []string
		for name, want := range res.Files {
			got, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil || !bytes.Equal(got, want) {
				stale = append(stale, docgen.Dir+"/"+name)
			}
		}
		existing, err := filepath.Glob(filepath.Join(dir, "*.md"))
		require.NoError(t, err)
		for _, f := range existing {
			if _, ok := res.Files[filepath.Base(f)]; !ok {
				stale = append(stale, docgen.Dir+"/"+filepath.Base(f)+" (no such component: delete it)")
			}
		}
		slices.Sort(stale)
		if len(stale) > 0 {
			t.Errorf("out of date; run `make docs` (go test ./cmd/sonde -run '^TestComponentDocs$' -update-component-docs):\n%s", strings.Join(stale, "\n"))
		}
	})
}
