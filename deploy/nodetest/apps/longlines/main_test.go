package main

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"regexp"
	"strconv"
	"testing"
	"time"
)

var longRE = regexp.MustCompile(`^level=\w+ app=longlines run=t inst=[0-9a-f]{8} stream=(stdout|stderr) seq=(\d{6,}) len=(\d+) crc32=([0-9a-f]{8}) body=(\S*)$`)

func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if err := run(ctx, []string{"-rate=0", "-total=30", "-run-id=t", "-exit-when-done"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	long, short := 0, 0
	for _, buf := range []*bytes.Buffer{&stdout, &stderr} {
		for _, l := range bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n")) {
			if bytes.Contains(l, []byte(" msg=final ")) {
				continue
			}
			m := longRE.FindSubmatch(l)
			if m == nil {
				t.Fatalf("unexpected line %.200q", l)
			}
			n, _ := strconv.Atoi(string(m[3]))
			if n != len(m[5]) || fmt.Sprintf("%08x", crc32.ChecksumIEEE(m[5])) != string(m[4]) {
				t.Fatalf("seq %s: len/crc do not match the body", m[2])
			}
			if n > 16<<10 {
				long++
			} else {
				short++
			}
		}
	}
	if long != 20 || short != 10 {
		t.Fatalf("%d long and %d short lines, want 20 and 10", long, short)
	}
	if !bytes.Contains(stdout.Bytes(), []byte(" msg=final total_stdout=21 total_stderr=9\n")) {
		t.Fatalf("no final line with totals 21/9")
	}
}
