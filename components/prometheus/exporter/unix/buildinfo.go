package unix

import (
	"runtime"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// NodeExporterVersion is the node_exporter release whose collectors sonde links (go.mod;
// TestNodeExporterVersion keeps the two equal). A constant rather than the binary's build
// info: test binaries carry no module versions.
const NodeExporterVersion = "1.12.1"

// buildInfo is node_exporter's own node_exporter_build_info gauge. Dashboards built for
// node_exporter (the node-mixin's "Node Exporter / USE Method" dashboards among them) fill
// their instance picker from this series; without it they stay empty.
var buildInfo = sync.OnceValue(func() prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "node_exporter_build_info",
		Help: "A metric with a constant '1' value labeled by version, revision, branch, goversion from which node_exporter was built, and the goos and goarch for the build.",
		ConstLabels: prometheus.Labels{
			"version": NodeExporterVersion, "revision": "", "branch": "", "tags": "",
			"goversion": runtime.Version(), "goos": runtime.GOOS, "goarch": runtime.GOARCH,
		},
	})
	g.Set(1)
	return g
})
