// Command sonde is the per-node telemetry agent. This file only wires: subcommands, flags,
// signals; everything else lives in pipeline/, config/, components/ and exporters/.
package main

import (
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `sonde — a per-node telemetry agent for Kubernetes

Usage:
  sonde run [flags]                 run the component graph (no --config: a built-in preset)
  sonde validate --config FILE      check a configuration and exit
  sonde config show --preset NAME   print a built-in preset as a starting point
  sonde version                     print the version

Run "sonde <command> -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return runCmd(args[1:], stderr)
	case "validate":
		return validateCmd(args[1:], stdout, stderr)
	case "config":
		return configCmd(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "sonde %s\n", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}
