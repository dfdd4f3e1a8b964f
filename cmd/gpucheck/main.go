// Command gpucheck runs prometheus.exporter.gpu's collector once against the real NVIDIA
// driver (two passes, so that GPM profiling metrics have a pair of samples), prints the
// exposition a scrape would return and a summary: GPU models, driver, which counters had
// values and which the GPU does not support. It exits 1 when no GPU can be read.
//
// It is `make gpu-check`: a check to run by hand on a GPU machine, not a CI test.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/sondehq/sonde/components/prometheus/exporter/gpu"
	"github.com/sondehq/sonde/components/prometheus/exporter/gpu/nvml"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gpucheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	libraryPath := fs.String("library-path", "", "libnvidia-ml shared object to load (default: the dynamic linker's libnvidia-ml.so.1)")
	counters := fs.String("counters", "all", `"all" (every field sonde implements), "default" (the component's default set), or a comma-separated list of DCGM fields`)
	countersFile := fs.String("counters-file", "", "counter list in dcgm-exporter's CSV format (overrides -counters)")
	gap := fs.Duration("gap", time.Second, "time between the two NVML passes (GPM averages over it)")
	hostname := fs.String("hostname", "", `"Hostname" label (default: $NODE_NAME or the host name)`)
	quiet := fs.Bool("quiet", false, "print the summary only, not the exposition")
	verbose := fs.Bool("v", false, "log what the collector does")
	if err := fs.Parse(args); err != nil {
		return 2
	}

	specs, err := resolveCounters(*counters, *countersFile)
	if err != nil {
		fmt.Fprintln(stderr, "gpucheck:", err)
		return 2
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	rep, err := gpu.Check(nvml.New(*libraryPath), specs, hostnameOf(*hostname), *gap, logger)
	if err != nil {
		fmt.Fprintln(stderr, "gpucheck:", err)
		if errors.Is(err, gpu.ErrNoGPU) {
			fmt.Fprintln(stderr, "gpucheck: no NVIDIA GPU could be read on this machine")
		}
		return 1
	}
	if !*quiet {
		fmt.Fprintln(stdout, "# ---- exposition ----")
		fmt.Fprint(stdout, rep.Exposition)
	}
	printSummary(stdout, rep)
	if len(rep.GPUs) == 0 {
		return 1
	}
	return 0
}

func resolveCounters(list, file string) ([]gpu.CounterSpec, error) {
	switch {
	case file != "":
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		specs, unknown, err := gpu.ParseCounters(f)
		if len(unknown) > 0 {
			fmt.Fprintln(os.Stderr, "gpucheck: not implemented, skipped:", strings.Join(unknown, ", "))
		}
		return specs, err
	case list == "all":
		return gpu.CountersFromNames(gpu.FieldNames())
	case list == "default":
		return gpu.DefaultCounters()
	}
	return gpu.CountersFromNames(strings.Split(list, ","))
}

func hostnameOf(h string) string {
	if h != "" {
		return h
	}
	if n := os.Getenv("NODE_NAME"); n != "" {
		return n
	}
	n, _ := os.Hostname()
	return n
}

func printSummary(w io.Writer, rep *gpu.CheckReport) {
	fmt.Fprintln(w, "# ---- summary ----")
	fmt.Fprintf(w, "driver %s, NVML %s\n", rep.Driver, rep.NVML)
	for _, g := range rep.GPUs {
		fmt.Fprintln(w)
		what := fmt.Sprintf("GPU %d: %s, %s, PCI %s", g.Index, g.Model, g.UUID, g.PCIBusID)
		if g.MIG != "" {
			what = fmt.Sprintf("GPU %d MIG instance %s", g.Index, g.MIG)
		}
		fmt.Fprintf(w, "%s; GPM profiling: %s\n", what, yesNo(g.GPM))
		if g.Lost {
			fmt.Fprintln(w, "  LOST: the GPU fell off the bus or needs a reset")
		}
		for _, e := range g.Errors {
			fmt.Fprintln(w, "  error:", e)
		}
		groups := map[string][]string{}
		var order []string
		for _, f := range g.Fields {
			if _, ok := groups[f.Status]; !ok {
				order = append(order, f.Status)
			}
			entry := f.Name
			if f.Value != "" {
				entry += "=" + f.Value
			}
			groups[f.Status] = append(groups[f.Status], entry)
		}
		for _, s := range order {
			fmt.Fprintf(w, "  %s (%d):\n", s, len(groups[s]))
			for _, e := range groups[s] {
				fmt.Fprintln(w, "    "+e)
			}
		}
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
