package unix

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestQuietHandler(t *testing.T) {
	var buf bytes.Buffer
	inner := slog.NewTextHandler(&buf, &slog.HandlerOptions{
		Level:       slog.LevelInfo,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr { return dropTime(a) },
	})
	log := slog.New(newQuietHandler(inner)).With("component", "x")
	fail := func(name string) { log.Error("collector failed", "name", name, "err", "boom") }
	ok := func(name string) { log.Debug("collector succeeded", "name", name) }

	fail("cpu")                                // first failure: warning
	fail("cpu")                                // repeat: debug, filtered out
	fail("zfs")                                // another collector: warning
	ok("cpu")                                  // success ends the streak
	fail("cpu")                                // warning again
	log.Error("something else", "name", "cpu") // other messages pass unchanged

	require.Equal(t, strings.Join([]string{
		`level=WARN msg="collector failed" component=x name=cpu err=boom`,
		`level=WARN msg="collector failed" component=x name=zfs err=boom`,
		`level=WARN msg="collector failed" component=x name=cpu err=boom`,
		`level=ERROR msg="something else" component=x name=cpu`,
	}, "\n")+"\n", buf.String())
}

func dropTime(a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}
