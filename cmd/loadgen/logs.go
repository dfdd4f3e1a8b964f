package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// logsOptions say what `loadgen logs` writes.
type logsOptions struct {
	dir   string  // the /var/log/pods lookalike
	files int     // container log files, one pod each
	lines int64   // lines over all files; 0: until the context ends (rate must be set)
	rate  float64 // lines per second over all files; 0: as fast as possible
	seed  uint64
}

// LogsSummary is what `loadgen logs` printed when done, as JSON.
type LogsSummary struct {
	Files int   `json:"files"`
	Lines int64 `json:"lines"`
	// Bytes is what was appended to the files (CRI framing included); MessageBytes the
	// messages alone (what reaches Loki as lines).
	Bytes        int64 `json:"bytes"`
	MessageBytes int64 `json:"message_bytes"`
	StderrLines  int64 `json:"stderr_lines"`
	// FirstUnixNano and LastUnixNano bound the CRI timestamps written.
	FirstUnixNano int64   `json:"first_unix_nano"`
	LastUnixNano  int64   `json:"last_unix_nano"`
	Seconds       float64 `json:"seconds"`
}

// logFile is one container log being appended to.
type logFile struct {
	f     *os.File
	w     *bufio.Writer
	last  time.Time // newest timestamp written: timestamps increase strictly per file
	dirty bool
}

// podLogPath is the kubelet's layout for file i: <dir>/<namespace>_<pod>_<uid>/<container>/0.log.
// Names depend on i and seed only.
func podLogPath(dir string, i int, seed uint64) string {
	r := rand.New(rand.NewPCG(seed, uint64(i)))
	hex := appendHex(nil, r.Uint64())
	hex2 := appendHex(nil, r.Uint64())
	uid := fmt.Sprintf("%s-%s-%s-%s-%s", hex[:8], hex[8:12], hex[12:16], hex2[:4], hex2[4:16])
	ns := "bench-" + strconv.Itoa(i%8)
	pod := fmt.Sprintf("app-%04d-%s", i, hex2[4:9])
	return filepath.Join(dir, ns+"_"+pod+"_"+uid, "app", "0.log")
}

// writeLogs appends CRI-formatted lines to o.files kubelet-style files under o.dir, spread
// round-robin, at o.rate or as fast as it can, until o.lines are written or ctx ends.
func writeLogs(ctx context.Context, o logsOptions, now func() time.Time) (sum LogsSummary, err error) {
	sum.Files = o.files
	files := make([]*logFile, o.files)
	defer func() {
		for _, lf := range files {
			if lf != nil {
				_ = lf.f.Close()
			}
		}
	}()
	for i := range files {
		path := podLogPath(o.dir, i, o.seed)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return sum, err
		}
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return sum, err
		}
		files[i] = &logFile{f: f, w: bufio.NewWriterSize(f, 16<<10)}
	}

	gen := newLineGen(o.seed)
	var line, msg []byte
	next := 0
	writeOne := func() error {
		lf := files[next]
		next = (next + 1) % len(files)
		ts := now().UTC()
		if !ts.After(lf.last) {
			ts = lf.last.Add(time.Nanosecond)
		}
		lf.last = ts
		var stderr bool
		msg, stderr = gen.next(msg[:0], ts)
		line = ts.AppendFormat(line[:0], time.RFC3339Nano)
		if stderr {
			line = append(line, " stderr F "...)
			sum.StderrLines++
		} else {
			line = append(line, " stdout F "...)
		}
		line = append(line, msg...)
		line = append(line, '\n')
		lf.dirty = true
		if _, err := lf.w.Write(line); err != nil {
			return err
		}
		if sum.Lines == 0 {
			sum.FirstUnixNano = ts.UnixNano()
		}
		sum.LastUnixNano = max(sum.LastUnixNano, ts.UnixNano())
		sum.Lines++
		sum.Bytes += int64(len(line))
		sum.MessageBytes += int64(len(msg))
		return nil
	}
	flush := func() error {
		var errs []error
		for _, lf := range files {
			if lf.dirty {
				errs = append(errs, lf.w.Flush())
				lf.dirty = false
			}
		}
		return errors.Join(errs...)
	}
	done := func() bool { return o.lines > 0 && sum.Lines >= o.lines }

	start := now()
	defer func() { sum.Seconds = now().Sub(start).Seconds() }() // named result: also on return
	if o.rate <= 0 {
		for !done() {
			if sum.Lines%4096 == 0 && ctx.Err() != nil {
				break
			}
			if err := writeOne(); err != nil {
				return sum, err
			}
		}
		return sum, flush()
	}

	// Paced: every tick, write what the rate owes since the start, then flush, so readers
	// see steady growth rather than 16 KiB bursts.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !done() {
		select {
		case <-ctx.Done():
			return sum, flush()
		case <-tick.C:
		}
		due := int64(o.rate*now().Sub(start).Seconds()) - sum.Lines
		for ; due > 0 && !done(); due-- {
			if err := writeOne(); err != nil {
				return sum, err
			}
		}
		if err := flush(); err != nil {
			return sum, err
		}
	}
	return sum, nil
}
