package kubernetes

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sondehq/sonde/internal/logbatch"

	"k8s.io/apimachinery/pkg/types"
)

// streamKey identifies one container's log: the pod's uid (a pod recreated under the same
// name is a new log) and the container's name (a restarted container continues its log).
type streamKey struct {
	UID       types.UID
	Container string
}

// cursor is a point in a container's log, as the pods/log API lets a client resume: the
// timestamp of the latest line, and how many lines carried exactly that timestamp. The API
// resumes at a timestamp (sinceTime, with whole seconds only), so a client that resumes at a
// cursor skips every line before TS and the first N lines at TS.
type cursor struct {
	TS time.Time
	N  int
}

// advance returns the cursor after a line stamped ts. A line stamped earlier than the cursor
// (the runtime's clock went back) leaves it where it is: the cursor only moves forward.
func (c cursor) advance(ts time.Time) cursor {
	switch {
	case ts.Equal(c.TS):
		c.N++
	case ts.After(c.TS):
		c = cursor{TS: ts, N: 1}
	}
	return c
}

// before reports whether c is earlier in the log than d.
func (c cursor) before(d cursor) bool {
	return c.TS.Before(d.TS) || (c.TS.Equal(d.TS) && c.N < d.N)
}

// position is the delivery state of one container's log. It outlives the stream's tailer
// (acknowledgements arrive after a tailer stopped, and a container that restarts resumes
// where its previous instance stopped) and is what the positions file records.
//
// Its Stream commits cursors in order as the batches carrying the stream's lines are
// acknowledged (see internal/logbatch).
type position struct {
	logbatch.Stream[cursor] // the committed cursor

	key streamKey

	mu             sync.Mutex
	namespace, pod string // informational, written to the positions file
	sent           cursor // the latest line handed to the batcher
}

func (p *position) sentCursor() cursor {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent
}

func (p *position) setSent(c cursor) {
	p.mu.Lock()
	p.sent = c
	p.mu.Unlock()
}

// table holds the positions of every stream, loaded from and saved to the positions file.
type table struct {
	mu    sync.Mutex
	byKey map[streamKey]*position
	dirty atomic.Bool // a committed cursor moved or a position was forgotten since the last save
}

func newTable() *table { return &table{byKey: map[streamKey]*position{}} }

// get returns the position of key, creating it (at the start of the log) if needed.
func (t *table) get(key streamKey, namespace, pod string) *position {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.byKey[key]
	if p == nil {
		p = &position{key: key}
		t.byKey[key] = p
	}
	p.mu.Lock()
	p.namespace, p.pod = namespace, pod
	p.mu.Unlock()
	return p
}

// forget drops the positions of pods that no longer exist (keep reports whether a pod uid
// still exists), unless batches holding their lines are still unacknowledged.
func (t *table) forget(keep func(types.UID) bool) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for k, p := range t.byKey {
		if !keep(k.UID) && p.State().Pending == 0 {
			delete(t.byKey, k)
			n++
		}
	}
	if n > 0 {
		t.dirty.Store(true)
	}
	return n
}

// snapshot returns the committed cursor of every stream that has one.
func (t *table) snapshot() []savedPosition {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]savedPosition, 0, len(t.byKey))
	for k, p := range t.byKey {
		p.mu.Lock()
		ns, pod := p.namespace, p.pod
		p.mu.Unlock()
		c := p.State().Committed
		if c.TS.IsZero() {
			continue
		}
		out = append(out, savedPosition{UID: string(k.UID), Container: k.Container, Namespace: ns, Pod: pod, Timestamp: c.TS, Lines: c.N})
	}
	slices.SortFunc(out, func(a, b savedPosition) int {
		return cmp.Or(strings.Compare(a.UID, b.UID), strings.Compare(a.Container, b.Container))
	})
	return out
}

// restore sets the positions read from the positions file: both cursors start at the
// committed one, so nothing acknowledged is sent again.
func (t *table) restore(saved []savedPosition) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range saved {
		c := cursor{TS: s.Timestamp, N: s.Lines}
		key := streamKey{UID: types.UID(s.UID), Container: s.Container}
		p := &position{key: key, namespace: s.Namespace, pod: s.Pod, sent: c}
		p.Restore(c)
		t.byKey[key] = p
	}
}
