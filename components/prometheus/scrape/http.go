package scrape

import (
	"encoding/json"
	"net/http"

	"github.com/sondehq/sonde/pipeline"
)

var _ pipeline.HTTPProvider = (*Component)(nil)

// Handler implements pipeline.HTTPProvider: GET answers the targets' status as JSON.
func (c *Component) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		ts := c.Targets()
		if ts == nil {
			ts = []TargetStatus{}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(struct {
			Targets []TargetStatus `json:"targets"`
		}{ts})
	})
}
