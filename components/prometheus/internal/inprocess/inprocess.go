// Package inprocess holds what the in-process exporters (prometheus.exporter.unix, .gpu and
// .self) share: their metrics are served by sonde's own HTTP server, and each publishes the
// one scrape target that points there, so that prometheus.scrape collects them like any
// other target.
package inprocess

import (
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"

	"github.com/sondehq/sonde/pipeline"
)

// MetricsPath is where an exporter serves its exposition, relative to Options.HTTPPath.
const MetricsPath = "metrics"

// Target returns the one target that points at path (an absolute URL path) on sonde's own
// server, listening on addr (Options.ServerAddr). An empty instance is the host name.
func Target(addr, path, job, instance string) pipeline.Targets {
	if instance == "" {
		instance = Hostname()
	}
	return pipeline.Targets{{
		model.AddressLabel:     model.LabelValue(addr),
		model.MetricsPathLabel: model.LabelValue(path),
		model.InstanceLabel:    model.LabelValue(instance),
		model.JobLabel:         model.LabelValue(job),
	}}
}

// Hostname returns the host name, or "localhost" when it is unknown.
func Hostname() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "localhost"
}

// Handler is the HTTP handler of exporter typ: MetricsPath goes to serve, any other path is
// not found. serve answers the request, or returns false without writing when the exporter
// has nothing to serve, which answers 503.
func Handler(typ string, serve func(http.ResponseWriter, *http.Request) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.TrimPrefix(r.URL.Path, "/") != MetricsPath {
			http.NotFound(w, r)
			return
		}
		if !serve(w, r) {
			http.Error(w, typ+" is not running", http.StatusServiceUnavailable)
		}
	})
}

// Exposition serves what g gathers in the format the scraper asks for, logging gather errors
// to logger and serving what was gathered anyway, at most maxInFlight requests at a time.
func Exposition(g prometheus.Gatherer, logger *slog.Logger, maxInFlight int) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(logger.Handler(), slog.LevelError),
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: maxInFlight,
	})
}
