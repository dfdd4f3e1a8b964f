package remotewrite

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
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
	Version int         `json:"version"`
	Acked   walPos      `json:"acked"`
	Shards  []samplePos `json:"shards,omitempty"`
	CRC     uint32      `json:"crc32"`
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
