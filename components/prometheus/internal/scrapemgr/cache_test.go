package scrapemgr

import (
	"fmt"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
)

// scrapeSeries runs one scrape of series through c the way appendBody does: known series
// are marked (and tracked), new ones added; it returns which were new.
func scrapeSeries(c *seriesCache, series ...string) (added []string) {
	for _, s := range series {
		e, dup := c.get([]byte(s))
		if dup {
			continue
		}
		if e == nil {
			e = c.add([]byte(s), labels.FromStrings("__name__", s), 1)
			added = append(added, s)
		}
		c.track(e)
	}
	return added
}

func stale(c *seriesCache) (out []string) {
	c.eachStale(func(e *cacheEntry) bool {
		out = append(out, e.raw)
		return true
	})
	return out
}

func TestSeriesCacheOrderAndStaleness(t *testing.T) {
	c := newSeriesCache()
	require.Equal(t, []string{"a", "b", "c"}, scrapeSeries(c, "a", "b", "c"))
	require.Empty(t, stale(c))
	c.iterDone(true)

	// Same series, same order: all found at their place, none stale.
	require.Empty(t, scrapeSeries(c, "a", "b", "c"))
	require.Empty(t, stale(c))
	require.Equal(t, 3, c.cursor, "each series found where the previous scrape had it")
	c.iterDone(true)

	// b goes, d comes in front: the cursor resyncs on c after the miss.
	require.Equal(t, []string{"d"}, scrapeSeries(c, "d", "a", "c"))
	require.Equal(t, []string{"b"}, stale(c))
	c.iterDone(true)
	require.NotContains(t, c.byRaw, "b", "a successful scrape forgets what it did not expose")

	// b is stale once only: the scrape after did not track it.
	require.Empty(t, scrapeSeries(c, "d", "a", "c"))
	require.Empty(t, stale(c))
	c.iterDone(true)

	// Reordered: found through the map, nothing stale, nothing new.
	require.Empty(t, scrapeSeries(c, "c", "a", "d"))
	require.Empty(t, stale(c))
	c.iterDone(true)
}

func TestSeriesCacheDuplicate(t *testing.T) {
	c := newSeriesCache()
	scrapeSeries(c, "a", "b")
	c.iterDone(true)
	_, dup := c.get([]byte("a"))
	require.False(t, dup)
	_, dup = c.get([]byte("a"))
	require.True(t, dup, "the same series twice in one scrape")
}

func TestSeriesCacheFailedScrapes(t *testing.T) {
	c := newSeriesCache()
	scrapeSeries(c, "a", "b")
	c.iterDone(true)
	// A failed scrape (empty): every series tracked before is stale, once.
	require.ElementsMatch(t, []string{"a", "b"}, stale(c))
	c.iterDone(false)
	require.Empty(t, stale(c))
	c.iterDone(false)
	require.Contains(t, c.byRaw, "a", "failed scrapes forget nothing")
	// Back: known series, nothing new.
	require.Empty(t, scrapeSeries(c, "a", "b"))
	c.iterDone(true)

	// Failed scrapes exposing ever new series force a flush once the cache doubled (+1000).
	for i := range 1100 {
		e, _ := c.get([]byte{byte(i), byte(i >> 8), 'x'})
		if e == nil {
			c.add([]byte{byte(i), byte(i >> 8), 'x'}, labels.FromStrings("__name__", "x"), 1)
		}
		c.iterDone(false)
	}
	require.Less(t, len(c.byRaw), 1100, "forced flush")
}

func TestPartOfFamily(t *testing.T) {
	for _, c := range []struct {
		name, family string
		typ          string
		want         bool
	}{
		{"http_requests_total", "http_requests", "counter", true},
		{"http_requests_total", "http_requests_total", "counter", true},
		{"http_requests", "http_requests_total", "counter", false},
		{"rpc_duration_seconds_bucket", "rpc_duration_seconds", "histogram", true},
		{"rpc_duration_seconds_count", "rpc_duration_seconds", "summary", true},
		{"rpc_duration_seconds_bucket", "rpc_duration_seconds", "summary", false},
		{"temperature", "temperature", "gauge", true},
		{"temperature_max", "temperature", "gauge", false},
		{"build_info", "build", "info", true},
	} {
		require.Equal(t, c.want, partOfFamily(c.name, []byte(c.family), model.MetricType(c.typ)), "%s in %s (%s)", c.name, c.family, c.typ)
	}
}

// Under churn the arena of series texts is compacted: what it holds stays in proportion to
// the series known, and every known series is still found, at its place.
func TestSeriesCacheTextsCompacted(t *testing.T) {
	c := newSeriesCache()
	series := func(gen int) []string {
		out := make([]string, 100)
		for i := range out {
			out[i] = fmt.Sprintf(`m{series="%d",gen="%d"}`, i, gen+i/10) // a tenth replaced each time
		}
		return out
	}
	for gen := range 200 {
		scrapeSeries(c, series(gen)...)
		c.iterDone(true)
	}
	require.Len(t, c.byRaw, 100)
	require.LessOrEqual(t, c.texts.live(), 100*len(`m{series="99",gen="999"}`))
	require.LessOrEqual(t, c.texts.dead, c.texts.live()/2+len(`m{series="99",gen="999"}`)*10, "compacted")
	require.Empty(t, scrapeSeries(c, series(199)...), "every series found after compaction")
	require.Equal(t, 100, c.cursor, "in order")
	for k, e := range c.byRaw {
		require.Equal(t, k, e.raw)
	}
}
