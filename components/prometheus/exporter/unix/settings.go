package unix

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
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

	var others []string
	for h, hid := range holders {
		if h != owner {
			others = append(others, hid)
		}
	}
	if len(others) > 0 && !slices.Equal(applied, flags) {
		slices.Sort(others)
		return nil, nil, fmt.Errorf("%w and %s already run with different ones (%s); give every prometheus.exporter.unix component the same paths and collector options, or run only one",
			errSettingsConflict, strings.Join(others, ", "), describeDiff(applied, flags))
	}
	changed := !slices.Equal(applied, flags)
	if changed {
		applied = nil
		if _, err := kingpin.CommandLine.Parse(flags); err != nil {
			return nil, nil, fmt.Errorf("node_exporter flags %q: %w", flags, err)
		}
		applied = slices.Clone(flags)
	}
	if changed || len(others) == 0 {
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
			k, v, ok := strings.Cut(strings.TrimPrefix(f, "--"), "=")
			if !ok { // a bool switch: --name or --no-name
				v = "true"
				if n, neg := strings.CutPrefix(k, "no-"); neg {
					k, v = n, "false"
				}
			}
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
	show := func(m map[string]string, k string) string {
		if v, ok := m[k]; ok {
			return strconv.Quote(v)
		}
		return "(default)"
	}
	for _, k := range keys {
		if rv, rok := r[k]; !rok || rv != w[k] {
			out = append(out, fmt.Sprintf("%s: running %s, wanted %s", k, show(r, k), show(w, k)))
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
