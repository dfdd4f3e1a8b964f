package write

import (
	"sync"
	"unsafe"

	"github.com/prometheus/common/model"
)

// maxCachedStreams bounds the label-string cache; when it is full it starts again empty.
const maxCachedStreams = 20000

// streamNames turns entry label sets into Loki stream label strings (`{app="api", ...}`),
// with the external labels merged in, and remembers them: a source sends the same few
// label sets over and over.
type streamNames struct {
	mu       sync.Mutex
	external model.LabelSet
	byHash   map[model.Fingerprint][]cachedStream
	n        int
}

type cachedStream struct {
	labels model.LabelSet
	name   string // "" when the label set is invalid
	reason string
}

func newStreamNames(external map[string]string) *streamNames {
	s := &streamNames{byHash: map[model.Fingerprint][]cachedStream{}, external: model.LabelSet{}}
	for k, v := range external {
		s.external[model.LabelName(k)] = model.LabelValue(v)
	}
	return s
}

// name returns the stream label string of ls, or "" and a drop reason when Loki would
// refuse the labels (no labels at all, an invalid name, a value that is not UTF-8).
func (s *streamNames) name(ls model.LabelSet) (string, string) {
	h := ls.FastFingerprint()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.byHash[h] {
		if c.labels.Equal(ls) {
			return c.name, c.reason
		}
	}
	c := cachedStream{labels: ls}
	merged := ls
	if len(s.external) > 0 {
		merged = s.external.Merge(ls) // the entry's own labels win
	}
	if len(merged) == 0 {
		c.reason = reasonInvalidLabels
	} else {
		for n, v := range merged {
			if !n.IsValidLegacy() || !v.IsValid() {
				c.reason = reasonInvalidLabels
				break
			}
		}
	}
	if c.reason == "" {
		c.name = merged.String()
	}
	if s.n >= maxCachedStreams {
		clear(s.byHash)
		s.n = 0
	}
	s.byHash[h] = append(s.byHash[h], c)
	s.n++
	return c.name, c.reason
}

// sameMap reports whether a and b are the same map (not merely equal): sources label all
// the entries of a file with one map, so consecutive entries usually are.
func sameMap(a, b model.LabelSet) bool {
	return *(*unsafe.Pointer)(unsafe.Pointer(&a)) == *(*unsafe.Pointer)(unsafe.Pointer(&b))
}
