package write

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// Drop reasons: a bounded set, so that dropped_entries_total stays small whatever Loki says.
const (
	reasonTooFarBehind       = "too_far_behind"      // older than the stream's out-of-order window
	reasonOutOfOrder         = "out_of_order"        // Loki configured for ordered writes
	reasonTooOld             = "too_old"             // older than reject_old_samples_max_age
	reasonTooNew             = "too_new"             // too far in the future
	reasonLineTooLong        = "line_too_long"       // max_line_size
	reasonStructuredMetadata = "structured_metadata" // disallowed, too large or too many
	reasonInvalidLabels      = "invalid_labels"      // rejected by Loki, or found invalid before sending
	reasonRateLimited        = "rate_limited"        // 429 with retry_on_http_429 off
	reasonStreamLimit        = "stream_limit"        // max active streams
	reasonBlocked            = "blocked"             // ingestion blocked for the tenant
	reasonRequestTooLarge    = "request_too_large"
	reasonUnauthorized       = "unauthorized" // 401
	reasonForbidden          = "forbidden"    // 403
	reasonNotFound           = "not_found"    // 404: wrong URL
	reasonBadRequest         = "bad_request"  // the request could not be encoded
	reasonHTTP4xx            = "http_4xx"     // any other client error
	// reasonUnknown: a 400 whose answer (or part of it) names no reason sonde knows, e.g. a
	// proxy's page. The request's entries that the answer does not account for are counted
	// under it: not confirmed dropped one by one (Loki stores the valid entries of a request
	// it answers 400), only not confirmed stored.
	reasonUnknown = "unknown"
)

// allReasons are exported at 0 from the start.
var allReasons = []string{
	reasonTooFarBehind, reasonOutOfOrder, reasonTooOld, reasonTooNew, reasonLineTooLong,
	reasonStructuredMetadata, reasonInvalidLabels, reasonRateLimited, reasonStreamLimit,
	reasonBlocked, reasonRequestTooLarge, reasonUnauthorized, reasonForbidden, reasonNotFound,
	reasonBadRequest, reasonHTTP4xx, reasonUnknown,
}

// classify maps one of Loki's error messages to a reason; reasonUnknown when it is none of
// them.
func classify(msg string) string {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "too far behind"):
		return reasonTooFarBehind
	case strings.Contains(m, "out of order"):
		return reasonOutOfOrder
	case strings.Contains(m, "timestamp too old"):
		return reasonTooOld
	case strings.Contains(m, "timestamp too new"):
		return reasonTooNew
	case strings.Contains(m, "max entry size"), strings.Contains(m, "line too long"):
		return reasonLineTooLong
	case strings.Contains(m, "structured metadata"):
		return reasonStructuredMetadata
	case strings.Contains(m, "stream limit"), strings.Contains(m, "maximum active stream"):
		return reasonStreamLimit
	case strings.Contains(m, "rate limit"):
		return reasonRateLimited
	case strings.Contains(m, "ingestion blocked"):
		return reasonBlocked
	case strings.Contains(m, "body too large"):
		return reasonRequestTooLarge
	case strings.Contains(m, "label"):
		return reasonInvalidLabels
	}
	return reasonUnknown
}

type reasonCount struct {
	reason string
	n      int
}

var (
	totalIgnoredRE = regexp.MustCompile(`total ignored: (\d+) out of \d+`)
	errorsLikeRE   = regexp.MustCompile(`^(\d+) errors like: `)
)

// dropReasons says how many of the entries of a request Loki refused for good, and why.
// Loki stores the valid entries of a request it answers 400 and lists the others, either
// grouped by message ("3 errors like: entry for stream ... has timestamp too old ...; 1
// errors like: ..."), or, for entries an ingester refused, with a count ("total ignored: 2
// out of 10"). A message about one entry counts one entry (times its group); a message
// about a stream (its labels) counts the request's entries of the stream it names
// (streamEntries returns them: the stream whose label string the message holds); a refusal
// of the whole request (ingestion blocked, too large) counts every entry. What the answer
// does not account for (a body that is not Loki's, a message sonde does not know, a stream
// it does not name) is counted once, as the request's remaining entries, under
// reasonUnknown: those entries are not known to be stored, nor each known to be dropped.
func dropReasons(status int, body string, entries int, streamEntries func(msg string) (int, bool)) []reasonCount {
	switch status {
	case http.StatusBadRequest:
	case http.StatusTooManyRequests:
		return []reasonCount{{reasonRateLimited, entries}}
	case http.StatusUnauthorized:
		return []reasonCount{{reasonUnauthorized, entries}}
	case http.StatusForbidden:
		return []reasonCount{{reasonForbidden, entries}}
	case http.StatusNotFound:
		return []reasonCount{{reasonNotFound, entries}}
	case http.StatusRequestEntityTooLarge:
		return []reasonCount{{reasonRequestTooLarge, entries}}
	default:
		return []reasonCount{{reasonHTTP4xx, entries}}
	}
	var out []reasonCount
	total, unknown := 0, false
	add := func(reason string, n int) {
		total += n
		for i := range out {
			if out[i].reason == reason {
				out[i].n += n
				return
			}
		}
		out = append(out, reasonCount{reason, n})
	}
	if ms := totalIgnoredRE.FindAllStringSubmatch(body, -1); len(ms) > 0 {
		reason := classify(body)
		for _, m := range ms {
			n, _ := strconv.Atoi(m[1])
			add(reason, n)
		}
	} else {
		for _, seg := range messages(body) {
			n := 1
			if m := errorsLikeRE.FindStringSubmatch(seg); m != nil {
				n, _ = strconv.Atoi(m[1])
				seg = seg[len(m[0]):]
			}
			switch reason := classify(seg); {
			case perEntry[reason]:
				add(reason, n)
			case perStream[reason]:
				if k, ok := streamEntries(seg); ok {
					add(reason, k)
				} else {
					unknown = true
				}
			case reason == reasonUnknown:
				unknown = true
			default: // the whole request
				return []reasonCount{{reason, entries}}
			}
		}
	}
	switch {
	case total > entries:
		// More than the request held: the counts cannot be trusted, the reason can.
		return []reasonCount{{out[0].reason, entries}}
	case unknown && total < entries:
		add(reasonUnknown, entries-total)
	case total == 0:
		return []reasonCount{{reasonUnknown, entries}}
	}
	return out
}

// describe lists the reasons with their counts, e.g. "too_old=3 unknown=2".
func describe(rs []reasonCount) string {
	parts := make([]string, len(rs))
	for i, rc := range rs {
		parts[i] = rc.reason + "=" + strconv.Itoa(rc.n)
	}
	return strings.Join(parts, " ")
}

// messages splits a 400 body into Loki's messages. Loki joins them with "; ", each but a
// lone one prefixed with "N errors like: "; a message may hold "; " itself ("... has 16
// label names; limit 15"), so a piece that neither starts a group nor reads as a message
// of its own belongs to the one before.
func messages(body string) []string {
	var out []string
	for _, p := range strings.Split(body, "; ") {
		p = strings.TrimSpace(p)
		switch {
		case p == "":
		case len(out) > 0 && !errorsLikeRE.MatchString(p) && classify(p) == reasonUnknown:
			out[len(out)-1] += "; " + p
		default:
			out = append(out, p)
		}
	}
	return out
}

// perEntry are the reasons Loki reports one entry at a time, whose counts can be trusted.
var perEntry = map[string]bool{
	reasonTooFarBehind: true, reasonOutOfOrder: true, reasonTooOld: true, reasonTooNew: true,
	reasonLineTooLong: true, reasonStructuredMetadata: true,
}

// perStream are the reasons Loki reports once for a whole stream, naming its labels.
var perStream = map[string]bool{reasonInvalidLabels: true, reasonStreamLimit: true}
