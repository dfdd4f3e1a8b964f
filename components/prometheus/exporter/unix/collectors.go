package unix

import (
	"slices"
	"strings"
	"sync"

	"github.com/alecthomas/kingpin/v2"
	// The collector package registers every collector and its flags on kingpin.CommandLine
	// from its init functions, so it must be linked in before the catalog below is read.
	_ "github.com/prometheus/node_exporter/collector"
)

// catalog is what node_exporter's collector package registered on kingpin.CommandLine: the
// collectors it knows on this OS, which of them are enabled by default, and the defaults of
// the collector options this component exposes. node_exporter keeps that list private;
// its flags are the only public record of it.
type catalog struct {
	known          []string        // every collector name, sorted
	defaultEnabled []string        // the collectors node_exporter enables by default, sorted
	isKnown        map[string]bool // name → known
	isDefault      map[string]bool // name → enabled by default
	flagDefaults   map[string]string
}

var (
	catalogOnce sync.Once
	theCatalog  catalog
)

// collectors returns the catalog, read once from kingpin.CommandLine's model.
func collectors() *catalog {
	catalogOnce.Do(func() {
		// Parse (in settings.go) mutates the application's flag groups; read the model under
		// the same lock.
		settingsMu.Lock()
		defer settingsMu.Unlock()
		theCatalog = readCatalog(kingpin.CommandLine.Model())
	})
	return &theCatalog
}

func readCatalog(m *kingpin.ApplicationModel) catalog {
	c := catalog{isKnown: map[string]bool{}, isDefault: map[string]bool{}, flagDefaults: map[string]string{}}
	for _, f := range m.Flags {
		if len(f.Default) == 1 {
			c.flagDefaults[f.Name] = f.Default[0]
		}
		// Collector switches look like --collector.<name> (a bool flag whose help reads
		// "Enable the <name> collector ..."); options are --collector.<name>.<option>.
		name, ok := strings.CutPrefix(f.Name, "collector.")
		if !ok || strings.Contains(name, ".") || !f.IsBoolFlag() || !strings.HasPrefix(f.Help, "Enable the ") {
			continue
		}
		c.known = append(c.known, name)
		c.isKnown[name] = true
		if len(f.Default) == 1 && f.Default[0] == "true" {
			c.defaultEnabled = append(c.defaultEnabled, name)
			c.isDefault[name] = true
		}
	}
	slices.Sort(c.known)
	slices.Sort(c.defaultEnabled)
	return c
}

// DefaultCollectors returns the collectors node_exporter enables by default on this OS.
func DefaultCollectors() []string { return slices.Clone(collectors().defaultEnabled) }

// KnownCollectors returns every collector node_exporter knows on this OS.
func KnownCollectors() []string { return slices.Clone(collectors().known) }
