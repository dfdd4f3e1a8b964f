package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Live view limits: items per second per watcher (default and most), and how many watchers
// may be connected at once, so that a page left open in many tabs stays cheap.
const (
	defaultLiveRate  = 10
	maxLiveRate      = 100
	maxLiveWatchers  = 16
	liveKeepAlive    = 15 * time.Second
	liveWriteTimeout = 10 * time.Second
)

// live serves GET /api/v1/live/<type>/<name>: a Server-Sent Events stream of a sample of
// the items crossing the component's edges (see pipeline.Watcher). ?rate=N asks for at most
// N items a second (1 to 100, default 10). The stream ends when the client goes away or
// the server shuts down, and the sampling stops with it.
func (s *Server) live(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("type") + "/" + r.PathValue("name")
	rate := defaultLiveRate
	if q := r.URL.Query().Get("rate"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 || n > maxLiveRate {
			http.Error(w, fmt.Sprintf("rate must be an integer from 1 to %d", maxLiveRate), http.StatusBadRequest)
			return
		}
		rate = n
	}
	select {
	case s.liveSlots <- struct{}{}:
		defer func() { <-s.liveSlots }()
	default:
		http.Error(w, "too many live viewers; try again later", http.StatusServiceUnavailable)
		return
	}
	wt, err := s.c.Watch(id, rate)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	defer wt.Close()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // proxies must not hold events back
	rc := http.NewResponseController(w)
	// send writes one event; a client that does not read for liveWriteTimeout is dropped,
	// so that it does not hold a watcher slot forever.
	send := func(format string, a ...any) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(liveWriteTimeout))
		if _, err := fmt.Fprintf(w, format, a...); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send("retry: 3000\n: watching %s, at most %d items/s\n\n", id, rate) {
		return
	}

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastSent := time.Now()
	var dropped uint64
	for {
		select {
		case <-r.Context().Done():
			return
		case it := <-wt.Items():
			b, _ := json.Marshal(it)
			if !send("data: %s\n\n", b) {
				return
			}
			lastSent = time.Now()
		case now := <-tick.C:
			wt.Tick()
			ok := true
			if d := wt.Dropped(); d != dropped {
				dropped = d
				ok = send("event: dropped\ndata: %d\n\n", d)
				lastSent = now
			} else if now.Sub(lastSent) >= liveKeepAlive {
				ok = send(": keep-alive\n\n")
				lastSent = now
			}
			if !ok {
				return
			}
		}
	}
}
