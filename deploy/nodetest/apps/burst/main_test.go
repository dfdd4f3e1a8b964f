package main

import (
	"bytes"
	"context"
	"testing"
)

func TestRun(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"-lines=50", "-run-id=t"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(stdout.Bytes(), []byte("\n")); n != 41 {
		t.Errorf("%d stdout lines, want 40 and the final one", n)
	}
	if n := bytes.Count(stderr.Bytes(), []byte("\n")); n != 10 {
		t.Errorf("%d stderr lines, want 10", n)
	}
	if !bytes.Contains(stdout.Bytes(), []byte(" stream=stdout msg=final total_stdout=40 total_stderr=10\n")) {
		t.Errorf("no final line with totals 40/10 in %q", stdout.String())
	}
}
