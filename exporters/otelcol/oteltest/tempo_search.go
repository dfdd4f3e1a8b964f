package oteltest

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/sondehq/sonde/exporters/backendtest"
)

// Search runs a TraceQL query (e.g. `{resource.service.name="demo"}`) through Tempo's search
// API over [start, end] and returns the ids of at most limit matching traces.
func (tp *Tempo) Search(ctx context.Context, traceQL string, start, end time.Time, limit int) ([]pcommon.TraceID, error) {
	v := url.Values{}
	v.Set("q", traceQL)
	v.Set("start", strconv.FormatInt(start.Unix(), 10))
	v.Set("end", strconv.FormatInt(end.Unix()+1, 10))
	v.Set("limit", strconv.Itoa(limit))
	status, body, err := backendtest.Get(ctx, tp.URL()+"/api/search?"+v.Encode())
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("GET /api/search: HTTP %d: %s", status, body)
	}
	var r struct {
		Traces []struct {
			TraceID string `json:"traceID"`
		} `json:"traces"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("decode search result: %w", err)
	}
	ids := make([]pcommon.TraceID, 0, len(r.Traces))
	for _, tr := range r.Traces {
		// Tempo drops leading zeros from trace ids in search results.
		s := tr.TraceID
		for len(s) < 32 {
			s = "0" + s
		}
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != 16 {
			return nil, fmt.Errorf("trace id %q: not 16 hex bytes", tr.TraceID)
		}
		var id pcommon.TraceID
		copy(id[:], b)
		ids = append(ids, id)
	}
	return ids, nil
}
