package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/sondehq/sonde/config"
)

func validateCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sonde validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var src sourceFlags
	src.register(fs)
	src.registerServerListen(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if src.configFile == "" && src.preset == "" {
		fmt.Fprintln(stderr, "sonde validate: give --config FILE (or --preset NAME)")
		return 2
	}
	reg, err := registry()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	load, err := src.loader(reg, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	source, specs, err := load()
	if err != nil {
		fmt.Fprintf(stderr, "%s is invalid:\n%v\n", source, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s is valid: %d components\n", source, len(specs))
	return 0
}

func configCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "show" {
		fmt.Fprintln(stderr, "usage: sonde config show --preset NAME [--prometheus-url URL]")
		return 2
	}
	fs := flag.NewFlagSet("sonde config show", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var src sourceFlags
	src.register(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if src.preset == "" {
		fmt.Fprintln(stderr, "sonde config show: give --preset NAME (host, daemonset)")
		return 2
	}
	data, err := src.presetData()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	y, err := config.RenderPreset(src.preset, data)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	_, _ = stdout.Write(y)
	return 0
}
