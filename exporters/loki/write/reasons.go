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
	reasonBadRequest         = "bad_request"  // any other 400
	reasonHTTP4xx            = "http_4xx"     // any other client error
)

// allReasons are exported at 0 from the start.
var allReasons = []string{
	reasonTooFarBehind, reasonOutOfOrder, reasonTooOld, reasonTooNew, reasonLineTooLong,
	reasonStructuredMetadata, reasonInvalidLabels, reasonRateLimited, reasonStreamLimit,
	reasonBlocked, reasonRequestTooLarge, reasonUnauthorized, reasonForbidden, reasonNotFound,
	reasonBadRequest, reasonHTTP4xx,
}

// classify maps one of Loki's error messages to a reason.
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
	return reasonBadRequest
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
// grouped ("3 errors like: entry for stream ... has timestamp too old ...; ...") or, for
// entries an ingester refused, with a count ("total ignored: 2 out of 10"). When the body
// cannot be read that way every entry of the request is counted as dropped.
func dropReasons(status int, body string, entries int) []reasonCount {
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
	total := 0
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
		for _, seg := range strings.Split(body, "; ") {
			if seg = strings.TrimSpace(seg); seg == "" {
				continue
			}
			n := 1
			if m := errorsLikeRE.FindStringSubmatch(seg); m != nil {
				n, _ = strconv.Atoi(m[1])
				seg = seg[len(m[0]):]
			}
			add(classify(seg), n)
		}
	}
	if total <= 0 || total > entries {
		return []reasonCount{{classify(body), entries}}
	}
	for _, rc := range out {
		if !perEntry[rc.reason] {
			// A refusal of a whole stream or request, or a body that is not Loki's: the
			// number of entries concerned is unknown, so count them all.
			return []reasonCount{{rc.reason, entries}}
		}
	}
	return out
}

// perEntry are the reasons Loki reports one entry at a time, whose counts can be trusted.
var perEntry = map[string]bool{
	reasonTooFarBehind: true, reasonOutOfOrder: true, reasonTooOld: true, reasonTooNew: true,
	reasonLineTooLong: true, reasonStructuredMetadata: true,
}
