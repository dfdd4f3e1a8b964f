package main

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline"
)

// TestLayout checks the folder rule of docs/adding-a-component.md: type a.b.c lives at
// <top>/a/b/c (underscores dropped), where top is discovery/ for discovery.* (the segment
// "discovery" dropped), exporters/ for sinks (the segment "exporter" dropped), components/
// otherwise. A sink accepts data (exports a data kind) and has no argument to forward it to
// another component (see forwards).
func TestLayout(t *testing.T) {
	reg, err := registry()
	require.NoError(t, err)
	for _, typ := range reg.Types() {
		r, _ := reg.Lookup(typ)
		argsType := reflect.TypeOf(r.Args())
		if argsType.Kind() == reflect.Pointer {
			argsType = argsType.Elem()
		}
		got := strings.TrimPrefix(argsType.PkgPath(), "github.com/sondehq/sonde/")
		require.Equal(t, expectedHome(typ, isSink(r, argsType)), got,
			"%s: its package (the one defining its Arguments) is not where docs/adding-a-component.md says", typ)
	}
}

func expectedHome(typ string, sink bool) string {
	segs := strings.Split(strings.ReplaceAll(typ, "_", ""), ".")
	top, drop := "components", ""
	switch {
	case segs[0] == "discovery":
		top, drop = "discovery", "discovery"
	case sink:
		top, drop = "exporters", "exporter"
	}
	segs = slices.DeleteFunc(segs, func(s string) bool { return s == drop })
	return top + "/" + strings.Join(segs, "/")
}

func isSink(r pipeline.Registration, args reflect.Type) bool {
	data := slices.ContainsFunc(r.Exports, func(k pipeline.EdgeKind) bool { return k != pipeline.KindTargets })
	if !data {
		return false
	}
	return !forwards(args)
}

// forwards reports whether an arguments struct (or one it inlines) has a field that
// references components to send data to: forward_to, or the OpenTelemetry output block
// (output: {traces, metrics, logs}; loki.echo's output is a string naming stdout or stderr).
func forwards(t reflect.Type) bool {
	for i := range t.NumField() {
		f := t.Field(i)
		switch tag := strings.Split(f.Tag.Get("yaml"), ","); {
		case tag[0] == "forward_to" || tag[0] == "output" && f.Type.Kind() == reflect.Struct:
			return true
		case f.Anonymous && f.Type.Kind() == reflect.Struct && forwards(f.Type):
			return true
		}
	}
	return false
}

func TestExpectedHome(t *testing.T) {
	require.Equal(t, "discovery/relabel", expectedHome("discovery.relabel", false))
	require.Equal(t, "exporters/prometheus/remotewrite", expectedHome("prometheus.remote_write", true))
	require.Equal(t, "exporters/otelcol/otlp", expectedHome("otelcol.exporter.otlp", true))
	require.Equal(t, "components/otelcol/exporter/loki", expectedHome("otelcol.exporter.loki", false))
	require.Equal(t, "components/prometheus/exporter/unix", expectedHome("prometheus.exporter.unix", false))
}
