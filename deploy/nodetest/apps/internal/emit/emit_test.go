package emit

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// lineRE is the regular expression the node test documents for identified lines.
var lineRE = regexp.MustCompile(`^level=(info|warn) app=(\S+) run=(\S+) inst=([0-9a-f]{8}) stream=(stdout|stderr) seq=(\d{6,}) `)

var finalRE = regexp.MustCompile(`^level=info app=(\S+) run=(\S+) inst=([0-9a-f]{8}) stream=stdout msg=final total_stdout=(\d+) total_stderr=(\d+)$`)

func TestWriter(t *testing.T) {
	var out, errw bytes.Buffer
	w := New("demo", "r1", 20, &out, &errw)
	for range 100 {
		seq, s := w.Next()
		if err := w.Line(seq, s, []byte(`msg="x"`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Final(); err != nil {
		t.Fatal(err)
	}
	if err := w.Final(); err != nil {
		t.Fatal(err)
	}
	if got := w.Count(Stderr); got != 20 {
		t.Fatalf("stderr lines = %d, want 20", got)
	}
	seen := map[string]map[int]bool{"stdout": {}, "stderr": {}}
	for stream, buf := range map[string]*bytes.Buffer{"stdout": &out, "stderr": &errw} {
		for _, l := range bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n")) {
			if m := lineRE.FindSubmatch(l); m != nil {
				if string(m[5]) != stream {
					t.Errorf("line on %s says stream=%s", stream, m[5])
				}
				n, _ := strconv.Atoi(string(m[6]))
				seen[stream][n] = true
				continue
			}
			m := finalRE.FindSubmatch(l)
			if m == nil || stream != "stdout" {
				t.Fatalf("unexpected line on %s: %q", stream, l)
			}
			if string(m[4]) != "80" || string(m[5]) != "20" {
				t.Errorf("final line %q, want totals 80/20", l)
			}
		}
	}
	for stream, want := range map[string]int{"stdout": 80, "stderr": 20} {
		for i := 1; i <= want; i++ {
			if !seen[stream][i] {
				t.Errorf("%s seq %d missing", stream, i)
			}
		}
		if len(seen[stream]) != want {
			t.Errorf("%s: %d distinct seqs, want %d", stream, len(seen[stream]), want)
		}
	}
}

func TestPace(t *testing.T) {
	n := 0
	start := time.Now()
	if err := Pace(context.Background(), 200, 50, func() error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); n != 50 || d < 200*time.Millisecond || d > 2*time.Second {
		t.Fatalf("wrote %d lines in %v, want 50 in about 250ms", n, d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n = 0
	_ = Pace(ctx, 0, 0, func() error {
		if n++; n == 10 {
			cancel()
		}
		return nil
	})
	if n != 10 {
		t.Fatalf("unpaced run wrote %d lines after cancel at 10", n)
	}
}
