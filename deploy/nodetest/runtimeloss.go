package nodetest

import (
	"bufio"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// The node's containerd (Debian's 1.6.20) sometimes stops copying a container's output when
// the container exits right after writing it, among others started at the same time
// (containerd issue #7289): it logs
//
//	Failed to pipe stdout of container "<id>" error="read /proc/self/fd/N: file already closed"
//
// and the CRI log file ends early, often with a cut line (tag P) — the lines after it never
// reach the file, so no agent can ship them. The lifecycle test met it with short-lived pods
// (1 run in 3): the burst's totals line was not in the file at all. Such a loss is the
// runtime's, and is told apart from sonde's by both of: containerd said so for that
// container, and every line the file does hold is in Loki.

// pipeFailedRE matches containerd's log line for a container whose output it stopped copying.
var pipeFailedRE = regexp.MustCompile(`Failed to pipe (stdout|stderr) of container \\?"([0-9a-f]{64})\\?"`)

// PipeFailures returns the IDs of the containers whose output containerd's log (r) says it
// failed to copy, with the streams concerned.
func PipeFailures(r io.Reader) map[string][]string {
	out := map[string][]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if m := pipeFailedRE.FindStringSubmatch(sc.Text()); m != nil {
			out[m[2]] = append(out[m[2]], m[1])
		}
	}
	return out
}

// KeptByRuntime reads a container's CRI log file (r) and returns, per stream, the highest
// line number of the demo programs' numbered lines it holds complete (a line cut by the
// runtime, tag P with no continuation, does not count), and whether it holds the line with
// the totals.
func KeptByRuntime(r io.Reader) (kept map[string]int, final bool) {
	kept = map[string]int{}
	open := map[string]string{} // per stream, the P fragments of a line not ended yet
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		// <time> <stream> <P|F> <content>
		f := strings.SplitN(sc.Text(), " ", 4)
		if len(f) < 4 {
			continue
		}
		stream, tag, content := f[1], f[2], f[3]
		if tag == "P" {
			open[stream] += content
			continue
		}
		line := open[stream] + content
		delete(open, stream)
		if finalRE.MatchString(line) {
			final = true
			continue
		}
		if m := seqRE.FindStringSubmatch(line); m != nil {
			if seq, _ := strconv.Atoi(m[2]); seq > kept[m[1]] {
				kept[m[1]] = seq
			}
		}
	}
	return kept, final
}
