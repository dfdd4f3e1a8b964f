package process

import (
	"hash/maphash"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/sondehq/sonde/pipeline"
)

// entryState is one entry on its way through the stages. Stages never modify the entry's
// label set (sources share one map between many entries, and a fan-out shares it between
// copies): label changes are recorded as edits and applied once, at the end, through a
// cache of label sets, so that an entry whose labels change allocates nothing in the steady
// state. Extracted values live in slots numbered at compile time, so a lookup is an index.
//
// One entryState is reused for every entry of a batch; reset prepares it for the next one.
type entryState struct {
	line string
	ts   time.Time
	base model.LabelSet // the entry's labels, read-only
	sm   labels.Labels  // the entry's structured metadata, read-only

	edits   []labelEdit    // label changes, in order
	smAdd   []labels.Label // structured metadata to add (or replace)
	slots   []string       // extracted values by slot
	pending []pendingValue // values a parsing stage extracts, kept only if the whole input parses
	set     []bool         // whether slots[i] was extracted for this entry
	names   []string       // slot names (shared with the pipeline)
	changed bool           // line, timestamp, labels or metadata differ from the input
	hash    uint64         // labelsHash, valid when hashOK
	hashOK  bool

	// Remembered from entry to entry (sources label all the entries of a file with one
	// map, so consecutive entries usually share it): the hash of a base map, and the
	// label set the previous entry's edits produced.
	hashedBase model.LabelSet
	baseHash   uint64
	lastBase   model.LabelSet
	lastEdits  []labelEdit
	lastResult model.LabelSet

	counts     batchCounts
	dropReason string // set by a stage that drops the entry
	err        error  // set by a stage that aborts the batch (its context ended)
	now        time.Time
}

type pendingValue struct {
	slot  int
	value string
}

type labelEdit struct {
	name  model.LabelName
	value model.LabelValue
	del   bool
}

func newEntryState(names []string) *entryState {
	return &entryState{
		slots: make([]string, len(names)),
		set:   make([]bool, len(names)),
		names: names,
	}
}

// reset loads e into s.
func (s *entryState) reset(e *pipeline.LogEntry) {
	s.line, s.ts, s.base, s.sm = e.Line, e.Timestamp, e.Labels, e.StructuredMetadata
	s.edits = s.edits[:0]
	s.smAdd = s.smAdd[:0]
	clear(s.set)
	clear(s.slots) // drop references to the previous line
	s.pending = s.pending[:0]
	s.changed, s.hashOK = false, false
	s.dropReason = ""
	s.err = nil
}

// failed counts an entry that stage could not parse.
func (s *entryState) failed(stage string) {
	s.counts.failures = bump(s.counts.failures, stage)
}

// stage records value for slot i, to be stored by commit once the input has parsed.
func (s *entryState) stage(i int, value string) {
	s.pending = append(s.pending, pendingValue{slot: i, value: value})
}

// commit stores the staged values; discard forgets them.
func (s *entryState) commit() {
	for _, p := range s.pending {
		s.extract(p.slot, p.value)
	}
	s.pending = s.pending[:0]
}

func (s *entryState) discard() { s.pending = s.pending[:0] }

// extract stores value in slot i.
func (s *entryState) extract(i int, value string) {
	s.slots[i], s.set[i] = value, true
}

// value returns the extracted value of slot i; a slot nothing extracted falls back to the
// stream label of the same name, as in Promtail, where the extracted map starts with the
// entry's labels.
func (s *entryState) value(i int) (string, bool) {
	if s.set[i] {
		return s.slots[i], true
	}
	v, ok := s.label(model.LabelName(s.names[i]))
	return string(v), ok
}

// label returns the current value of a stream label.
func (s *entryState) label(name model.LabelName) (model.LabelValue, bool) {
	for i := len(s.edits) - 1; i >= 0; i-- {
		if s.edits[i].name == name {
			return s.edits[i].value, !s.edits[i].del
		}
	}
	v, ok := s.base[name]
	return v, ok
}

// setLabel sets a stream label.
func (s *entryState) setLabel(name model.LabelName, value model.LabelValue) {
	s.changed, s.hashOK = true, false
	for i := range s.edits {
		if s.edits[i].name == name {
			s.edits[i] = labelEdit{name: name, value: value}
			return
		}
	}
	s.edits = append(s.edits, labelEdit{name: name, value: value})
}

// deleteLabel removes a stream label.
func (s *entryState) deleteLabel(name model.LabelName) {
	if _, ok := s.label(name); !ok {
		return
	}
	s.changed, s.hashOK = true, false
	for i := range s.edits {
		if s.edits[i].name == name {
			s.edits[i] = labelEdit{name: name, del: true}
			return
		}
	}
	s.edits = append(s.edits, labelEdit{name: name, del: true})
}

// keepLabels removes every stream label whose name is not in keep.
func (s *entryState) keepLabels(keep map[model.LabelName]struct{}) {
	for name := range s.base {
		if _, ok := keep[name]; !ok {
			s.deleteLabel(name)
		}
	}
	for i := range s.edits {
		if _, ok := keep[s.edits[i].name]; !ok && !s.edits[i].del {
			s.edits[i] = labelEdit{name: s.edits[i].name, del: true}
			s.changed, s.hashOK = true, false
		}
	}
}

// rangeLabels calls fn for every current stream label, in no particular order.
func (s *entryState) rangeLabels(fn func(name model.LabelName, value model.LabelValue)) {
	for name, value := range s.base {
		if s.edited(name) {
			continue
		}
		fn(name, value)
	}
	for _, e := range s.edits {
		if !e.del {
			fn(e.name, e.value)
		}
	}
}

func (s *entryState) edited(name model.LabelName) bool {
	for i := range s.edits {
		if s.edits[i].name == name {
			return true
		}
	}
	return false
}

// labelsHash hashes the current stream labels, independent of order: the base map's hash
// (computed once per map), adjusted by the edits.
func (s *entryState) labelsHash() uint64 {
	if s.hashOK {
		return s.hash
	}
	if s.hashedBase == nil || !sameMap(s.hashedBase, s.base) {
		var h uint64
		for name, value := range s.base {
			h ^= pairHash(name, value)
		}
		s.hashedBase, s.baseHash = s.base, h
	}
	h := s.baseHash
	for _, e := range s.edits {
		if v, ok := s.base[e.name]; ok {
			h ^= pairHash(e.name, v)
		}
		if !e.del {
			h ^= pairHash(e.name, e.value)
		}
	}
	s.hash, s.hashOK = h, true
	return h
}

// sameMap reports whether a and b are the same map (not merely equal ones).
func sameMap(a, b model.LabelSet) bool {
	return *(*unsafe.Pointer)(unsafe.Pointer(&a)) == *(*unsafe.Pointer)(unsafe.Pointer(&b))
}

// resultLabels returns the label set of the current labels: the previous entry's when it
// had the same base map and edits, else one from the cache.
func (s *entryState) resultLabels(cache *labelCache) model.LabelSet {
	if s.lastResult != nil && sameMap(s.lastBase, s.base) && slices.Equal(s.lastEdits, s.edits) {
		return s.lastResult
	}
	ls := cache.get(s)
	s.lastBase, s.lastResult = s.base, ls
	s.lastEdits = append(s.lastEdits[:0], s.edits...)
	return ls
}

// setMetadata adds (or replaces) a structured metadata pair.
func (s *entryState) setMetadata(name, value string) {
	s.changed = true
	for i := range s.smAdd {
		if s.smAdd[i].Name == name {
			s.smAdd[i].Value = value
			return
		}
	}
	s.smAdd = append(s.smAdd, labels.Label{Name: name, Value: value})
}

// store writes the entry's final state into e, taking label sets from cache.
func (s *entryState) store(e *pipeline.LogEntry, cache *labelCache) {
	if !s.changed {
		return
	}
	e.Line, e.Timestamp = s.line, s.ts
	if len(s.edits) > 0 {
		e.Labels = s.resultLabels(cache)
	}
	if len(s.smAdd) > 0 {
		b := labels.NewBuilder(s.sm)
		for _, l := range s.smAdd {
			b.Set(l.Name, strings.Clone(l.Value)) // the value may point into a large line
		}
		e.StructuredMetadata = b.Labels()
	}
}

// hashSeed seeds label hashes; they are only compared within this process.
var hashSeed = maphash.MakeSeed()

// pairHash hashes one label pair; label sets hash to the XOR of their pairs, so the order
// in which a map is walked does not matter.
func pairHash(name model.LabelName, value model.LabelValue) uint64 {
	h := maphash.String(hashSeed, string(name))
	return (h ^ bits.RotateLeft64(maphash.String(hashSeed, string(value)), 29)) * 0x9e3779b97f4a7c15
}

// maxCachedLabelSets bounds the label-set cache; when it is full it starts again empty.
const maxCachedLabelSets = 10000

// labelCache hands out one shared model.LabelSet per distinct result of the label stages,
// so that entries whose labels a stage changes do not each allocate a map. The sets it
// returns are never modified.
type labelCache struct {
	mu   sync.RWMutex
	sets map[uint64][]model.LabelSet
	n    int
}

func newLabelCache() *labelCache {
	return &labelCache{sets: map[uint64][]model.LabelSet{}}
}

// get returns the label set equal to s's current labels.
func (c *labelCache) get(s *entryState) model.LabelSet {
	h := s.labelsHash()
	c.mu.RLock()
	for _, ls := range c.sets[h] {
		if s.labelsEqual(ls) {
			c.mu.RUnlock()
			return ls
		}
	}
	c.mu.RUnlock()

	ls := make(model.LabelSet, len(s.base)+len(s.edits))
	s.rangeLabels(func(name model.LabelName, value model.LabelValue) {
		// Values extracted from a line point into it: copy them so the cache does not
		// keep lines alive.
		ls[model.LabelName(strings.Clone(string(name)))] = model.LabelValue(strings.Clone(string(value)))
	})
	c.mu.Lock()
	if c.n >= maxCachedLabelSets {
		clear(c.sets)
		c.n = 0
	}
	c.sets[h] = append(c.sets[h], ls)
	c.n++
	c.mu.Unlock()
	return ls
}

// labelsEqual reports whether ls holds exactly s's current labels.
func (s *entryState) labelsEqual(ls model.LabelSet) bool {
	n, equal := 0, true
	s.rangeLabels(func(name model.LabelName, value model.LabelValue) {
		n++
		if v, ok := ls[name]; !ok || v != value {
			equal = false
		}
	})
	return equal && n == len(ls)
}
