package remotewrite

import (
	"sync"
	"testing"

	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/stretchr/testify/require"
)

func TestRefIndex(t *testing.T) {
	var x refIndex
	require.Nil(t, x.get(1), "empty")
	series := map[chunks.HeadSeriesRef]*memSeries{}
	for _, ref := range []chunks.HeadSeriesRef{1, 2, refPageSize - 1, refPageSize, 5 * refPageSize, 3} {
		s := &memSeries{ref: ref}
		x.set(s)
		series[ref] = s
	}
	for ref, s := range series {
		require.Same(t, s, x.get(ref), "ref %d", ref)
	}
	require.Nil(t, x.get(4))
	require.Nil(t, x.get(2*refPageSize), "a page never set")
	require.Nil(t, x.get(100*refPageSize), "beyond the directory")

	var seen []chunks.HeadSeriesRef
	x.each(func(s *memSeries) bool { seen = append(seen, s.ref); return true })
	require.Equal(t, []chunks.HeadSeriesRef{1, 2, 3, refPageSize - 1, refPageSize, 5 * refPageSize}, seen, "in ref order")

	x.remove(&memSeries{ref: 1}) // another series under the same ref: not removed
	require.Same(t, series[1], x.get(1))
	for _, ref := range []chunks.HeadSeriesRef{1, 2, 3, refPageSize - 1} {
		x.remove(series[ref])
		require.Nil(t, x.get(ref))
	}
	require.Nil(t, x.dir.Load().pages[0].Load(), "the empty page is freed")
	require.Same(t, series[refPageSize], x.get(refPageSize))
	x.remove(series[refPageSize])
	x.remove(series[5*refPageSize])
	require.Nil(t, x.dir.Load(), "nothing left")
}

// TestRefIndexChurn: series replaced by new refs over and over do not grow the index.
func TestRefIndexChurn(t *testing.T) {
	var x refIndex
	const active = 3 * refPageSize
	live := make([]*memSeries, 0, active)
	next := chunks.HeadSeriesRef(1)
	for range active {
		s := &memSeries{ref: next}
		next++
		x.set(s)
		live = append(live, s)
	}
	for range 200 * refPageSize {
		x.remove(live[0])
		live = live[1:]
		s := &memSeries{ref: next}
		next++
		x.set(s)
		live = append(live, s)
	}
	d := x.dir.Load()
	require.LessOrEqual(t, len(d.pages), 64, "directory after %d refs", next)
	n := 0
	x.each(func(*memSeries) bool { n++; return true })
	require.Equal(t, active, n)
	for _, s := range live {
		require.Same(t, s, x.get(s.ref))
	}
}

// TestRefIndexConcurrent runs lookups while the index grows and shrinks (go test -race).
func TestRefIndexConcurrent(t *testing.T) {
	var x refIndex
	const n = 20 * refPageSize
	all := make([]*memSeries, n+1)
	for i := 1; i <= n; i++ {
		all[i] = &memSeries{ref: chunks.HeadSeriesRef(i)}
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 1; i <= n; i++ {
			x.set(all[i])
			if i > refPageSize {
				x.remove(all[i-refPageSize])
			}
		}
	}()
	go func() {
		defer wg.Done()
		for range 4 {
			for i := 1; i <= n; i++ {
				if s := x.get(chunks.HeadSeriesRef(i)); s != nil && s != all[i] {
					t.Errorf("ref %d resolves to series %d", i, s.ref)
					return
				}
			}
		}
	}()
	wg.Wait()
	for i := n - refPageSize + 1; i <= n; i++ {
		require.Same(t, all[i], x.get(chunks.HeadSeriesRef(i)))
	}
}
