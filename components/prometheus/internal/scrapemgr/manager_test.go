package scrapemgr_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	promscrape "github.com/prometheus/prometheus/scrape"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/components/prometheus/internal/scrapemgr"
)

func startManager(t *testing.T, app *recorder, reg prometheus.Registerer) *scrapemgr.Manager {
	t.Helper()
	m, err := scrapemgr.Start(scrapemgr.Options{Logger: slog.New(slog.DiscardHandler), Registerer: reg, Appendable: app,
		ScrapeInterval: model.Duration(100 * time.Millisecond)})
	require.NoError(t, err)
	t.Cleanup(m.Stop)
	return m
}

func group(labels model.LabelSet, addrs ...string) []*targetgroup.Group {
	g := &targetgroup.Group{Source: "test", Labels: labels}
	for _, a := range addrs {
		g.Targets = append(g.Targets, model.LabelSet{model.AddressLabel: model.LabelValue(a)})
	}
	return []*targetgroup.Group{g}
}

// A target with a __unix_socket__ label is scraped over that socket, not TCP.
func TestUnixSocketTarget(t *testing.T) {
	path := filepath.Join(t.TempDir(), "exporter.sock")
	ln, err := net.Listen("unix", path)
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte("over_socket 1\n"))
	}))
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)

	rec := newRecorder()
	m := startManager(t, rec, nil)
	g, sc := baseScrapeConfig(t, 100*time.Millisecond, nil)
	require.NoError(t, m.Apply(g, []*config.ScrapeConfig{sc}))
	require.True(t, m.Sync(context.Background(), map[string][]*targetgroup.Group{sc.JobName: group(
		model.LabelSet{promscrape.UnixSocketLabel: model.LabelValue(path), "instance": "sock"}, "localhost:1")}))
	waitFor(t, "a scrape over the socket", func() bool {
		s, _, _, _ := rec.snapshot()
		return len(s[`{__name__="over_socket", instance="sock", job="parity"}`]) > 0
	})
}

// TargetsActive lists the targets with their health; Stop unregisters the metrics, so a new
// manager can register them on the same registry.
func TestTargetsAndMetrics(t *testing.T) {
	up := scriptTarget(t, []step{{body: "m 1\n"}})
	down := scriptTarget(t, []step{{status: http.StatusInternalServerError}})
	reg := prometheus.NewRegistry()
	rec := newRecorder()
	m, err := scrapemgr.Start(scrapemgr.Options{Logger: slog.New(slog.DiscardHandler), Registerer: reg, Appendable: rec,
		ScrapeInterval: model.Duration(100 * time.Millisecond)})
	require.NoError(t, err)
	g, sc := baseScrapeConfig(t, 100*time.Millisecond, nil)
	require.NoError(t, m.Apply(g, []*config.ScrapeConfig{sc}))
	require.True(t, m.Sync(context.Background(), map[string][]*targetgroup.Group{sc.JobName: group(nil,
		up.Listener.Addr().String(), down.Listener.Addr().String())}))
	waitFor(t, "both targets scraped", func() bool {
		ts := m.TargetsActive()[sc.JobName]
		if len(ts) != 2 {
			return false
		}
		health := map[string]promscrape.TargetHealth{}
		for _, t := range ts {
			health[t.URL().Host] = t.Health()
		}
		return health[up.Listener.Addr().String()] == promscrape.HealthGood && health[down.Listener.Addr().String()] == promscrape.HealthBad
	})
	mfs, err := reg.Gather()
	require.NoError(t, err)
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	require.True(t, names["prometheus_target_scrape_pools_total"])
	require.True(t, names["prometheus_target_scrape_pool_targets"])

	// A target limit fails every scrape of the job.
	sc2 := *sc
	sc2.TargetLimit = 1
	require.NoError(t, m.Apply(g, []*config.ScrapeConfig{&sc2}))
	waitFor(t, "target_limit failing the good target", func() bool {
		for _, t := range m.TargetsActive()[sc.JobName] {
			if t.URL().Host == up.Listener.Addr().String() && t.Health() == promscrape.HealthBad && t.LastError() != nil {
				return true
			}
		}
		return false
	})

	m.Stop()
	mfs, err = reg.Gather()
	require.NoError(t, err)
	require.Empty(t, mfs, "metrics unregistered")
	require.Empty(t, rec.problems())
	_ = startManager(t, newRecorder(), reg) // registers again
}

// A scrape in flight when the manager stops is cut short, not failed: no staleness markers,
// no `up` 0 (the agent stops, the target's series do not).
func TestStopCutsScrapeWithoutStaleness(t *testing.T) {
	release := make(chan struct{})
	blocked := make(chan struct{}, 1)
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		if n > 1 {
			select {
			case blocked <- struct{}{}:
			default:
			}
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte("m 1\n"))
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	rec := newRecorder()
	m, err := scrapemgr.Start(scrapemgr.Options{Logger: slog.New(slog.DiscardHandler), Appendable: rec,
		ScrapeInterval: model.Duration(100 * time.Millisecond)})
	require.NoError(t, err)
	g, sc := baseScrapeConfig(t, 2*time.Second, nil) // the hung scrape outlives Stop by far
	require.NoError(t, m.Apply(g, []*config.ScrapeConfig{sc}))
	require.True(t, m.Sync(context.Background(), map[string][]*targetgroup.Group{sc.JobName: group(model.LabelSet{"instance": "i"}, srv.Listener.Addr().String())}))
	<-blocked // the second scrape hangs
	m.Stop()
	series, _, _, _ := rec.snapshot()
	require.Len(t, series[`{__name__="m", instance="i", job="parity"}`], 1, "the first scrape's sample only: no staleness marker")
	up := series[`{__name__="up", instance="i", job="parity"}`]
	require.Len(t, up, 1)
	require.Equal(t, "1", up[0].val)
	require.Empty(t, rec.problems())
}
