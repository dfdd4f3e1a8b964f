package unix

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	_ "unsafe" // for go:linkname

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/node_exporter/collector"
)

// node_exporter's settings (paths, collector options) are kingpin flags on the global
// kingpin.CommandLine, read by its collectors through package-level pointers while they
// collect. So there is one set of settings per process: settingsMu guards parsing them,
// and components whose collectors are running (holders) pin them; a component that wants
// other settings while another one holds them is refused.
var (
	settingsMu sync.Mutex
	applied    []string                  // flags last parsed into kingpin.CommandLine; nil when none (or a parse failed)
	holders    = map[*Component]string{} // components with built collectors → their ids
)

// node_exporter caches every collector it builds in a package-level map and hands the
// cached instance out again from later NewNodeCollector calls for the life of the process.
// Many collectors capture their settings when built (procfs.NewFS(*procPath), compiled
// device filters), so after the settings change the cache must be emptied or the new
// settings would silently not apply to them. The map is unexported, and linking to it is the
// only way short of forking node_exporter; if it is renamed upstream the build fails at link
// time rather than misbehaving.
//
//go:linkname initiatedCollectors github.com/prometheus/node_exporter/collector.initiatedCollectors
var initiatedCollectors map[string]collector.Collector

//go:linkname initiatedCollectorsMtx github.com/prometheus/node_exporter/collector.initiatedCollectorsMtx
var initiatedCollectorsMtx sync.Mutex

// errSettingsConflict marks a refusal because another component holds other settings.
var errSettingsConflict = errors.New("node_exporter settings are process-wide")

// acquire makes flags node_exporter's settings on behalf of owner and builds the collectors
// named in names, one by one so that a collector that cannot start (for example because its
// files are missing on this host) does not stop the others; those are returned in failed.
// The caller must make sure none of owner's previous collectors is collecting.
func acquire(owner *Component, id string, flags, names []string, logger *slog.Logger) (nc *collector.NodeCollector, failed map[string]error, err error) {
	collectors() // read the catalog before taking settingsMu (it takes it itself)
	settingsMu.Lock()
	defer settingsMu.Unlock()

	others := 0
	for h, hid := range holders {
		if h == owner {
			continue
		}
		others++
		if applied != nil && !slices.Equal(applied, flags) {
			return nil, nil, fmt.Errorf("%w and %s runs with different ones (%s); give every prometheus.exporter.unix component the same paths and collector options, or run only one",
				errSettingsConflict, hid, describeDiff(applied, flags))
		}
	}
	changed := !slices.Equal(applied, flags)
	if changed {
		applied = nil
		if _, err := kingpin.CommandLine.Parse(flags); err != nil {
			return nil, nil, fmt.Errorf("node_exporter flags %q: %w", flags, err)
		}
		applied = slices.Clone(flags)
	}
	if changed || others == 0 {
		// Nobody else uses the cached collectors: build fresh ones with the current settings
		// (and this component's logger).
		initiatedCollectorsMtx.Lock()
		clear(initiatedCollectors)
		initiatedCollectorsMtx.Unlock()
	}

	failed = map[string]error{}
	for _, name := range names {
		one, err := collector.NewNodeCollector(logger, name)
		if err != nil {
			failed[name] = err
			continue
		}
		if nc == nil {
			nc = one
			continue
		}
		maps.Copy(nc.Collectors, one.Collectors)
	}
	if nc == nil {
		return nil, failed, fmt.Errorf("no collector could be started: %w", joinFailed(failed))
	}
	holders[owner] = id
	return nc, failed, nil
}

// release unpins the settings held by owner.
func release(owner *Component) {
	settingsMu.Lock()
	defer settingsMu.Unlock()
	delete(holders, owner)
}

// describeDiff names the settings that differ between the running flags and the wanted ones.
func describeDiff(running, wanted []string) string {
	split := func(flags []string) map[string]string {
		m := map[string]string{}
		for _, f := range flags {
			k, v, _ := strings.Cut(strings.TrimPrefix(f, "--"), "=")
			m[k] = v
		}
		return m
	}
	r, w := split(running), split(wanted)
	var keys []string
	for k := range r {
		keys = append(keys, k)
	}
	for k := range w {
		if _, ok := r[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var out []string
	for _, k := range keys {
		if r[k] != w[k] {
			out = append(out, fmt.Sprintf("%s: running %q, wanted %q", k, r[k], w[k]))
		}
	}
	return strings.Join(out, "; ")
}

// joinFailed joins the errors of failed collectors in name order.
func joinFailed(failed map[string]error) error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(failed)) {
		errs = append(errs, fmt.Errorf("%s: %w", name, failed[name]))
	}
	return errors.Join(errs...)
}
