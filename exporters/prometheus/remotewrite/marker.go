package remotewrite

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// walPos is a position in the WAL: byte Offset of segment Segment.
type walPos struct {
	Segment int   `json:"segment"`
	Offset  int64 `json:"offset"`
}

func (p walPos) less(o walPos) bool {
	return p.Segment < o.Segment || (p.Segment == o.Segment && p.Offset < o.Offset)
}

// samplePos is the position of one sample: the Index-th sample of the samples record that
// ends at byte Offset of segment Segment. The zero value is before every sample.
type samplePos struct {
	Segment int   `json:"segment"`
	Offset  int64 `json:"offset"`
	Index   int   `json:"index"`
}

func (p samplePos) lessEq(o samplePos) bool {
	if p.Segment != o.Segment {
		return p.Segment < o.Segment
	}
	if p.Offset != o.Offset {
		return p.Offset < o.Offset
	}
	return p.Index <= o.Index
}

const markerVersion = 1

// marker is what has been acknowledged by the receiver (or definitively dropped), persisted
// so that a restart sends exactly what was not.
//
// Acked: every sample in a record ending at or before this position is done; reading resumes
// with the first record ending after it. Shards[k]: shard k has acknowledged its samples up
// to and including this one (samples go to shard ref % len(Shards), in WAL order), so the
// records after Acked that a shard had already sent are not sent twice. Shards is ignored
// when the shard count changed.
type marker struct {
	Version int `json:"version"`
	// Endpoint is the name of the endpoint whose position this is (empty in markers written
	// before there could be several).
	Endpoint string      `json:"endpoint,omitempty"`
	Acked    walPos      `json:"acked"`
	Shards   []samplePos `json:"shards,omitempty"`
	CRC      uint32      `json:"crc32"`
}

// encode returns the marker as JSON with a CRC-32 of its own encoding (taken with CRC 0),
// so that a damaged file is recognised rather than trusted.
func (m marker) encode() ([]byte, error) {
	m.Version = markerVersion
	m.CRC = 0
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	m.CRC = crc32.ChecksumIEEE(b)
	return json.Marshal(m)
}

func decodeMarker(b []byte) (marker, error) {
	var m marker
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return marker{}, fmt.Errorf("decode marker: %w", err)
	}
	if m.Version != markerVersion {
		return marker{}, fmt.Errorf("unknown marker version %d", m.Version)
	}
	want := m.CRC
	m.CRC = 0
	raw, err := json.Marshal(m)
	if err != nil {
		return marker{}, err
	}
	if got := crc32.ChecksumIEEE(raw); got != want {
		return marker{}, fmt.Errorf("marker checksum mismatch: got %08x, want %08x", got, want)
	}
	if m.Acked.Segment < 0 || m.Acked.Offset < 0 {
		return marker{}, fmt.Errorf("marker position %+v is negative", m.Acked)
	}
	return m, nil
}

// readMarker reads the marker file; a missing file is reported with os.ErrNotExist.
func readMarker(path string) (marker, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return marker{}, err
	}
	return decodeMarker(b)
}

// writeMarker replaces the marker file atomically: temp file, fsync, rename, fsync dir.
func writeMarker(path string, m marker) (err error) {
	b, err := m.encode()
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err = f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	if d, derr := os.Open(filepath.Dir(path)); derr == nil {
		err = errors.Join(d.Sync(), d.Close())
	}
	return err
}

// covers reports whether m is at or after o: every sample o says is done, m says is done
// too. Markers of one component are written in a sequence that only moves forward, so of
// two of them one covers the other (unless the shard count changed in between).
func (m marker) covers(o marker) bool {
	if m.Acked.less(o.Acked) {
		return false
	}
	if o.Acked.less(m.Acked) {
		return true
	}
	if len(m.Shards) != len(o.Shards) {
		return false
	}
	for i := range m.Shards {
		if !o.Shards[i].lessEq(m.Shards[i]) {
			return false
		}
	}
	return true
}

// Marker files, in the component's data directory. With several endpoints each has its
// own pair, named after it (endpointMarkerBase).
const (
	// markerFile is replaced atomically and fsynced: at most every markerInterval while
	// running and at stop. It survives a power loss.
	markerFile = "marker"
	// latestMarkerFile is overwritten in place after every acknowledged batch, without
	// fsync: a process that is killed leaves it complete (the kernel has it), so a restart
	// sends again only the requests that were in flight. A power loss may leave it torn
	// (its CRC tells) or older than markerFile; the start takes whichever of the two valid
	// files is further on. A graceful stop removes it once markerFile holds the final
	// position.
	latestMarkerFile = "marker.latest"
)

// markerStore persists the acknowledged marker in markerFile and latestMarkerFile. It is
// safe for concurrent use: the sender saves after acknowledgements, the component once a
// second, after truncation and at stop.
type markerStore struct {
	dir   string
	base  string // markerFile, or an endpoint's name for it; base+".latest" is the latest
	fails func() // counts a failed write

	mu        sync.Mutex
	durable   marker   // last written to markerFile
	latest    marker   // last written to latestMarkerFile
	f         *os.File // latestMarkerFile, opened on the first save
	size      int      // bytes of the longest marker written to f
	failedErr string   // the last write error logged, to log a failing disk once
}

func newMarkerStore(dir string, fails func()) *markerStore {
	return newMarkerStoreAt(dir, markerFile, fails)
}

// newMarkerStoreAt is newMarkerStore for the files base and base.latest.
func newMarkerStoreAt(dir, base string, fails func()) *markerStore {
	return &markerStore{dir: dir, base: base, fails: fails}
}

func (s *markerStore) durablePath() string { return filepath.Join(s.dir, s.base) }
func (s *markerStore) latestPath() string  { return filepath.Join(s.dir, s.base+".latest") }

// load returns the furthest valid marker on disk; an error wrapping os.ErrNotExist when
// there is none at all. It remembers it, so that saving the same marker writes nothing.
func (s *markerStore) load() (marker, error) {
	durable, derr := readMarker(s.durablePath())
	latest, lerr := readMarker(s.latestPath())
	m, err := durable, derr
	switch {
	case lerr != nil:
		if errors.Is(derr, os.ErrNotExist) && !errors.Is(lerr, os.ErrNotExist) {
			err = lerr // no marker, and a damaged latest one: say so
		}
	case derr != nil || latest.covers(durable):
		m, err = latest, nil
	}
	if err == nil {
		s.mu.Lock()
		s.durable, s.latest = durable, latest
		s.mu.Unlock()
	}
	return m, err
}

// saveLatest overwrites latestMarkerFile with m unless it holds m already. The write goes
// to the page cache only: a few microseconds, against milliseconds for an fsync.
func (s *markerStore) saveLatest(m marker) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saveLatestLocked(m)
}

func (s *markerStore) saveLatestLocked(m marker) error {
	if equalMarkers(m, s.latest) {
		return nil
	}
	b, err := m.encode()
	if err == nil && s.f == nil {
		err = s.openLatest()
	}
	if err == nil {
		// Pad to the longest marker written so far (JSON allows trailing spaces), so that
		// one write replaces the whole content.
		if n := len(b); n < s.size {
			b = append(b, bytes.Repeat([]byte{' '}, s.size-n)...)
		}
		_, err = s.f.WriteAt(b, 0)
	}
	if err != nil {
		return s.failed(err)
	}
	s.size = max(s.size, len(b))
	s.latest = m
	s.failedErr = ""
	return nil
}

// openLatest opens latestMarkerFile for writing in place; what a previous run left in it
// is overwritten (padded) by the first save.
func (s *markerStore) openLatest() error {
	f, err := os.OpenFile(s.latestPath(), os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err == nil && fi.Size() > maxMarkerPad {
		err = f.Truncate(0) // not a marker of ours: start afresh
	} else if err == nil {
		s.size = int(fi.Size())
	}
	if err != nil {
		f.Close()
		return err
	}
	s.f = f
	return nil
}

// maxMarkerPad bounds the file a marker is padded to: a marker with 1000 shards is about
// 60 KiB.
const maxMarkerPad = 1 << 20

// saveDurable writes m to markerFile (and latestMarkerFile) unless it holds m already.
func (s *markerStore) saveDurable(m marker) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	lerr := s.saveLatestLocked(m)
	if equalMarkers(m, s.durable) {
		return lerr
	}
	if err := writeMarker(s.durablePath(), m); err != nil {
		return s.failed(err)
	}
	s.durable = m
	s.failedErr = ""
	return lerr
}

// close saves m durably and, if that worked, removes latestMarkerFile: after a graceful
// stop markerFile alone holds the position.
func (s *markerStore) close(m marker) error {
	err := s.saveDurable(m)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f != nil {
		err = errors.Join(err, s.f.Close())
		s.f = nil
	}
	if err == nil && equalMarkers(s.durable, m) {
		if rerr := os.Remove(s.latestPath()); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = rerr
		}
		s.latest = marker{}
	}
	return err
}

// failed counts a failed write and returns err, or nil when the same error was returned
// before: a failing disk is reported once, not after every acknowledged batch.
func (s *markerStore) failed(err error) error {
	s.fails()
	if err.Error() == s.failedErr {
		return nil
	}
	s.failedErr = err.Error()
	return fmt.Errorf("persist marker: %w", err)
}

func equalMarkers(a, b marker) bool {
	return a.Endpoint == b.Endpoint && a.Acked == b.Acked && slices.Equal(a.Shards, b.Shards)
}
