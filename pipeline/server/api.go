package server

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sondehq/sonde/pipeline"
)

// EdgeJSON is the API representation of an edge: its counters and its current rate.
type EdgeJSON struct {
	pipeline.EdgeInfo
	// Rate is the items per second over the last few seconds; null until the server has
	// two counts of the edge a second or more apart.
	Rate *float64 `json:"rate"`
}

// ComponentDetails is the API representation of one component with everything the UI's
// details view shows.
type ComponentDetails struct {
	ComponentJSON
	// Edges are the edges entering and leaving the component.
	Edges []EdgeJSON `json:"edges"`
	// Targets are the targets the component publishes now (components exporting targets).
	Targets []model.LabelSet `json:"targets,omitempty"`
	// Debug is what the component says about its inner state (pipeline.DebugInfoProvider).
	Debug any `json:"debug,omitempty"`
	// HTTPPath is where the component's own handler is served, when it has one.
	HTTPPath string `json:"http_path,omitempty"`
	// Metrics are the component's own metrics (those labelled with its component_id), in
	// the Prometheus text format.
	Metrics string `json:"metrics"`
}

func (s *Server) edges(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, s.edgesJSON(s.c.Edges()))
}

func (s *Server) edgesJSON(es []pipeline.EdgeInfo) []EdgeJSON {
	rates := s.rates.update(es, time.Now())
	out := make([]EdgeJSON, 0, len(es))
	for _, e := range es {
		ej := EdgeJSON{EdgeInfo: e}
		if r, ok := rates[e.EdgeKey]; ok && e.Kind != pipeline.KindTargets {
			ej.Rate = &r
		}
		out = append(out, ej)
	}
	return out
}

// details serves GET /api/v1/components/<type>/<name>.
func (s *Server) details(w http.ResponseWriter, id string) {
	var ci *pipeline.ComponentInfo
	for _, c := range s.c.Components() {
		if c.ID == id {
			ci = &c
			break
		}
	}
	if ci == nil {
		http.Error(w, "no such component: "+id, http.StatusNotFound)
		return
	}
	d := ComponentDetails{ComponentJSON: toJSON(*ci), Edges: []EdgeJSON{}}
	for _, e := range s.edgesJSON(s.c.Edges()) {
		if e.From == id || e.To == id {
			d.Edges = append(d.Edges, e)
		}
	}
	if slices.Contains(ci.Exports, pipeline.KindTargets) {
		ts, _ := s.c.PublishedTargets(id)
		d.Targets = append([]model.LabelSet{}, ts...)
	}
	if dp, ok := ci.Component.(pipeline.DebugInfoProvider); ok {
		d.Debug = dp.DebugInfo()
	}
	if _, ok := ci.Component.(pipeline.HTTPProvider); ok {
		d.HTTPPath = pipeline.ComponentPath(id)
	}
	d.Metrics = s.ownMetrics(id)
	writeJSON(w, d)
}

// ownMetrics returns the metrics labelled component_id=id in the text format.
func (s *Server) ownMetrics(id string) string {
	mfs, err := s.gatherer.Gather()
	if err != nil && len(mfs) == 0 {
		return "# gathering metrics failed: " + err.Error() + "\n"
	}
	var b strings.Builder
	for _, mf := range mfs {
		var keep []*dto.Metric
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "component_id" && lp.GetValue() == id {
					keep = append(keep, m)
					break
				}
			}
		}
		if len(keep) == 0 {
			continue
		}
		_, _ = expfmt.MetricFamilyToText(&b, &dto.MetricFamily{Name: mf.Name, Help: mf.Help, Type: mf.Type, Unit: mf.Unit, Metric: keep})
	}
	return b.String()
}

// rateWindow is how far back rates look; rates are computed from the oldest count kept
// within it, counts being taken at most once a second (by Serve's ticker and on requests).
const rateWindow = 5 * time.Second

// rates turns the edges' counters into rates.
type rates struct {
	mu    sync.Mutex
	snaps []rateSnap // oldest first, at least a second apart, within rateWindow of the newest
	rate  map[pipeline.EdgeKey]float64
}

type rateSnap struct {
	at     time.Time
	counts map[pipeline.EdgeKey]uint64
}

// update records the counts in es (when the last record is a second old or more) and
// returns the current rates. The map returned must not be modified.
func (r *rates) update(es []pipeline.EdgeInfo, now time.Time) map[pipeline.EdgeKey]float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.snaps); n > 0 && now.Sub(r.snaps[n-1].at) < time.Second {
		return r.rate
	}
	counts := make(map[pipeline.EdgeKey]uint64, len(es))
	for _, e := range es {
		counts[e.EdgeKey] = e.Items
	}
	r.snaps = append(r.snaps, rateSnap{at: now, counts: counts})
	for len(r.snaps) > 2 && now.Sub(r.snaps[1].at) >= rateWindow {
		r.snaps = r.snaps[1:]
	}
	if now.Sub(r.snaps[0].at) > 2*rateWindow { // nobody asked for a long time: start over
		r.snaps = r.snaps[len(r.snaps)-1:]
	}
	r.rate = map[pipeline.EdgeKey]float64{}
	if len(r.snaps) < 2 {
		return r.rate
	}
	old := r.snaps[0]
	dt := now.Sub(old.at).Seconds()
	for k, n := range counts {
		if p, ok := old.counts[k]; ok && n >= p {
			r.rate[k] = float64(n-p) / dt
		}
	}
	return r.rate
}

// sampleRates records the edges' counts; Serve calls it every second so that rates are
// ready when a page or curl asks.
func (s *Server) sampleRates() { s.rates.update(s.c.Edges(), time.Now()) }
