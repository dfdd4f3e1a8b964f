package kubernetes

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/internal/positions"
	"github.com/sondehq/sonde/pipeline"
)

// legacyFile is a positions file as loki.source.kubernetes wrote it before it shared
// internal/positions' format (one indented document).
const legacyFile = "{\n  \"version\": 1,\n  \"streams\": [\n    {\n      \"uid\": \"uid-cart\",\n      \"container\": \"app\",\n      \"namespace\": \"shop\",\n      \"pod\": \"cart\",\n      \"timestamp\": \"2026-03-01T12:00:00Z\",\n      \"lines\": 3\n    },\n    {\n      \"uid\": \"uid-x\",\n      \"container\": \"c\",\n      \"timestamp\": \"2026-03-01T12:00:01.5Z\",\n      \"lines\": 1\n    }\n  ]\n}\n"

var legacySaved = []savedPosition{
	{UID: "uid-cart", Container: "app", Namespace: "shop", Pod: "cart", Timestamp: base, Lines: 3},
	{UID: "uid-x", Container: "c", Timestamp: base.Add(1500 * time.Millisecond), Lines: 1},
}

func writePositions(t *testing.T, dir, text string) string {
	t.Helper()
	path := filepath.Join(dir, positionsFile)
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	return path
}

func TestLoadPositions(t *testing.T) {
	dir := t.TempDir()
	saved, bad, err := loadPositions(filepath.Join(dir, positionsFile))
	require.NoError(t, err, "a missing file is no positions")
	require.Empty(t, saved)
	require.Zero(t, bad)

	path := filepath.Join(dir, positionsFile)
	require.NoError(t, positions.Save(path, legacySaved))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(b), "{\"version\":1}\n{\"uid\":\"uid-cart\""), string(b))
	saved, bad, err = loadPositions(path)
	require.NoError(t, err)
	require.Zero(t, bad)
	require.Equal(t, legacySaved, saved)

	writePositions(t, dir, "{\"version\":1}\n{\"uid\":\"\",\"container\":\"c\",\"timestamp\":\"2026-03-01T12:00:00Z\",\"lines\":1}\n")
	saved, bad, err = loadPositions(path)
	require.NoError(t, err)
	require.Empty(t, saved)
	require.Equal(t, 1, bad, "an entry without a uid")
}

func TestLoadLegacyPositions(t *testing.T) {
	dir := t.TempDir()
	saved, bad, err := loadPositions(writePositions(t, dir, legacyFile))
	require.NoError(t, err)
	require.Zero(t, bad)
	require.Equal(t, legacySaved, saved)

	saved, bad, err = loadPositions(writePositions(t, dir, strings.Replace(legacyFile, `"container": "c",`, `"container": "",`, 1)))
	require.NoError(t, err)
	require.Equal(t, legacySaved[:1], saved)
	require.Equal(t, 1, bad)

	_, _, err = loadPositions(writePositions(t, dir, strings.Replace(legacyFile, `"version": 1`, `"version": 2`, 1)))
	require.ErrorContains(t, err, "unsupported version 2")
}

// TestUpgradeFromLegacyPositions: a component started on the positions file of the previous
// version resumes where it was acknowledged (nothing sent again, nothing lost) and writes
// the file in the current format.
func TestUpgradeFromLegacyPositions(t *testing.T) {
	f := newFakeAPI(t)
	f.addPod("shop", "cart", "uid-cart", "app")
	f.write("shop", "cart", "app", at(0, "a"), at(0, "b"), at(0, "c"), at(0, "d"), at(10, "e"))
	data := t.TempDir()
	path := writePositions(t, data, legacyFile)

	r := start(t, argsFor(f), &pipeline.Options{DataPath: data})
	r.waitLines(t, prefixed("shop/cart/app", "d", "e")...)
	require.Equal(t, base.Format(time.RFC3339), f.logRequests()[0].SinceTime)
	r.stop()

	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(b), "{\"version\":1}\n"), string(b))
	saved, bad, err := positions.Parse[savedPosition](b)
	require.NoError(t, err)
	require.Zero(t, bad)
	require.Contains(t, saved, savedPosition{UID: "uid-cart", Container: "app", Namespace: "shop", Pod: "cart", Timestamp: base.Add(10 * time.Millisecond), Lines: 1})
}
