package remotewrite

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"

	"github.com/prometheus/prometheus/tsdb/wlog"
)

// cursor reads one segment for a walReader: from the WAL's handoff while it holds what
// follows, from the file otherwise.
type cursor struct {
	r       *walReader
	seg     int
	f       *os.File
	lr      *wlog.LiveReader
	base    int64 // offset of the file at which lr started, a page boundary
	pos     int64 // offset after the last record handled
	stale   bool  // lr is behind pos: records after it came from the handoff
	corrupt bool  // the rest of the segment cannot be read
}

// next handles the records written after pos, and reports false if ctx ended.
func (c *cursor) next(ctx context.Context) bool {
	if !c.corrupt {
		r := c.r
		var ok bool
		r.memRecs, r.memEntries, ok = r.s.w.handoff.after(c.seg, c.pos, r.memRecs[:0], r.memEntries[:0])
		if ok {
			r.fromMemory.Add(int64(len(r.memRecs)))
			return c.handleMemory(ctx)
		}
	}
	return c.readFile(ctx)
}

func (c *cursor) handleMemory(ctx context.Context) bool {
	r := c.r
	defer clear(r.memEntries) // no pointers kept
	k := 0
	for _, m := range r.memRecs {
		var entries []walEntry
		if m.n > 0 {
			entries = r.memEntries[k : k+m.n]
			k += m.n
		}
		if !r.processEntries(ctx, c.seg, m.end, entries) {
			return false
		}
		c.pos, c.stale = m.end, true
	}
	return true
}

// readFile reads the records after pos from the file.
func (c *cursor) readFile(ctx context.Context) bool {
	if c.stale && !c.corrupt {
		if err := c.reposition(); err != nil {
			c.corrupt = true
			c.r.s.w.corruptRead(c.seg, err)
		}
	}
	for !c.corrupt && c.lr.Next() {
		end := c.base + c.lr.Offset()
		if end <= c.pos {
			continue // handled from the handoff
		}
		c.r.fromFile.Add(1)
		if !c.r.process(ctx, c.seg, end, c.lr.Record()) {
			return false
		}
		c.pos = end
	}
	if err := c.lr.Err(); err != nil && !errors.Is(err, io.EOF) && !c.corrupt {
		// The rest of this segment is lost; go on with the next one once it exists.
		c.corrupt = true
		c.r.s.w.corruptRead(c.seg, err)
	} else if !c.corrupt {
		// Everything written is read, page padding included: pos is the writer's offset, where
		// the next record, in the file or in the handoff, starts.
		c.pos = max(c.pos, c.base+c.lr.Offset())
	}
	return true
}

// reposition starts a new LiveReader at pos. A LiveReader must start at a page boundary
// (it finds a page's end by counting what it read), so the part of pos's page before it,
// handled already, is replaced by one record of zeros that ends at pos, and so is skipped.
// A record ends at least a fragment header (7 bytes) into a page, which that takes.
func (c *cursor) reposition() error {
	page := c.pos &^ (walPage - 1)
	if _, err := c.f.Seek(c.pos, io.SeekStart); err != nil {
		return err
	}
	var rd io.Reader = c.f
	if n := int(c.pos - page); n > 0 {
		rd = &prefixReader{prefix: fillerRecord(n), r: c.f}
	}
	c.lr = wlog.NewLiveReader(c.r.s.logger, c.r.lrMetrics, rd)
	c.base, c.stale = page, false
	return nil
}

// fillerRecord is a whole record of n bytes in wlog's format (a full fragment: type 1, the
// length and the CRC32-C of the zeros it holds); n is at least the 7 bytes of its header.
func fillerRecord(n int) []byte {
	b := make([]byte, n)
	b[0] = 1
	binary.BigEndian.PutUint16(b[1:], uint16(n-walRecordHeader))
	binary.BigEndian.PutUint32(b[3:], crc32.Checksum(b[walRecordHeader:], castagnoli))
	return b
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// prefixReader reads prefix, then r. Unlike io.MultiReader it goes on reading r after r
// said EOF: the segment grows.
type prefixReader struct {
	prefix []byte
	r      io.Reader
}

func (p *prefixReader) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		return n, nil
	}
	return p.r.Read(b)
}
