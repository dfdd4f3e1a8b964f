package nodetest

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/sondehq/sonde/exporters/loki/write/lokitest"
)

// The demo programs (deploy/nodetest/apps) number every line per stream and end with a line
// that gives the totals, so that what Loki holds can be checked line by line.
var (
	seqRE   = regexp.MustCompile(`\bstream=(stdout|stderr) seq=(\d+)\b`)
	finalRE = regexp.MustCompile(`\bfinal total_stdout=(\d+) total_stderr=(\d+)\b`)
)

// RequiredLogLabels are the stream labels every container log line must carry in Loki, from
// its first line on: the path's Kubernetes labels and the pod's own `app` label.
var RequiredLogLabels = []string{"namespace", "pod", "container", "stream", "job", "app"}

// LogReport is what Loki holds of one container's numbered lines.
type LogReport struct {
	Pod, Container string
	// Lines is the number of numbered lines read back, duplicates included.
	Lines int
	// Written is the number the program says it wrote (its final line), 0 while it runs.
	Written map[string]int
	// Missing and Duplicated count numbered lines absent from Loki or there more than once
	// (the same line in two streams counts as a duplicate: Loki cannot merge those).
	Missing, Duplicated int
	// Streams is the number of distinct label sets per output stream (1 when every line of
	// stdout is in one Loki stream and every line of stderr in another).
	Streams map[string]int
	// Unlabelled is the number of lines lacking one of RequiredLogLabels, or whose labels
	// disagree with the pod and container.
	Unlabelled int
	// MaxSeq is the highest sequence number seen per output stream.
	MaxSeq map[string]int
	// Examples of what went wrong, for the failure message.
	Examples []string
}

// CheckLogs compares the Loki streams of one pod's container with its numbered lines. With
// final=false (the program still runs), the lines up to the highest one seen must all be
// there; with final=true, all of those the program says it wrote.
func CheckLogs(streams []lokitest.Stream, pod, container string) LogReport {
	return CheckLogsUpTo(streams, pod, container, nil)
}

// CheckLogsUpTo is CheckLogs for a program whose line with the totals never reached its log
// file (see KeptByRuntime): the lines up to kept, per stream, must all be there.
func CheckLogsUpTo(streams []lokitest.Stream, pod, container string, kept map[string]int) LogReport {
	r := LogReport{Pod: pod, Container: container, Written: map[string]int{}, Streams: map[string]int{}, MaxSeq: map[string]int{}}
	seen := map[string]map[int]int{"stdout": {}, "stderr": {}}
	labelSets := map[string]map[string]bool{"stdout": {}, "stderr": {}}
	for _, s := range streams {
		if s.Labels["pod"] != pod || s.Labels["container"] != container {
			continue
		}
		ok := true
		for _, l := range RequiredLogLabels {
			if s.Labels[l] == "" {
				ok = false
			}
		}
		key := labelKey(s.Labels)
		for _, e := range s.Entries {
			if m := finalRE.FindStringSubmatch(e.Line); m != nil {
				r.Written["stdout"], _ = strconv.Atoi(m[1])
				r.Written["stderr"], _ = strconv.Atoi(m[2])
				continue
			}
			m := seqRE.FindStringSubmatch(e.Line)
			if m == nil {
				continue
			}
			stream := m[1]
			seq, _ := strconv.Atoi(m[2])
			r.Lines++
			seen[stream][seq]++
			labelSets[stream][key] = true
			if seq > r.MaxSeq[stream] {
				r.MaxSeq[stream] = seq
			}
			if !ok || s.Labels["stream"] != stream {
				r.Unlabelled++
				if len(r.Examples) < 5 {
					r.Examples = append(r.Examples, fmt.Sprintf("%s seq %d labels %v", stream, seq, s.Labels))
				}
			}
		}
	}
	for stream, counts := range seen {
		r.Streams[stream] = len(labelSets[stream])
		upTo := r.MaxSeq[stream]
		if w, ok := r.Written[stream]; ok {
			upTo = w
		} else if k, ok := kept[stream]; ok {
			upTo = k
		}
		gapStart := 0 // first seq of the current run of missing lines, 0 outside one
		for seq := 1; seq <= upTo+1; seq++ {
			n := counts[seq]
			if seq <= upTo && n == 0 {
				r.Missing++
				if gapStart == 0 {
					gapStart = seq
				}
				continue
			}
			if gapStart != 0 && len(r.Examples) < 10 {
				r.Examples = append(r.Examples, fmt.Sprintf("%s seq %d-%d missing", stream, gapStart, seq-1))
			}
			gapStart = 0
			if n > 1 {
				r.Duplicated += n - 1
			}
		}
	}
	return r
}

func labelKey(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "=" + l[k] + ",")
	}
	return b.String()
}

// Problems lists what is wrong with the report given how many duplicates are acceptable
// (one batch per agent kill), or nil.
func (r LogReport) Problems(allowedDuplicates int) []string {
	return r.ProblemsAllowing(0, allowedDuplicates)
}

// ProblemsAllowing is Problems with allowedMissing lines that may be absent.
func (r LogReport) ProblemsAllowing(allowedMissing, allowedDuplicates int) []string {
	var p []string
	if r.Lines == 0 {
		p = append(p, "no numbered lines in Loki")
	}
	if r.Missing > allowedMissing {
		p = append(p, fmt.Sprintf("%d lines missing", r.Missing))
	}
	if r.Duplicated > allowedDuplicates {
		p = append(p, fmt.Sprintf("%d lines duplicated (allowed %d)", r.Duplicated, allowedDuplicates))
	}
	if r.Unlabelled > 0 {
		p = append(p, fmt.Sprintf("%d lines without %v", r.Unlabelled, RequiredLogLabels))
	}
	for stream, n := range r.Streams {
		if n > 1 {
			p = append(p, fmt.Sprintf("%s split across %d Loki streams", stream, n))
		}
	}
	if len(p) > 0 && len(r.Examples) > 0 {
		p = append(p, "e.g. "+strings.Join(r.Examples, "; "))
	}
	return p
}
