package write

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/sondehq/sonde/pipeline"
)

// Drop reasons (sonde_elasticsearch_write_dropped_entries_total{reason}).
const (
	// A document Elasticsearch refused with 400 (mapper_parsing_exception,
	// document_parsing_exception, illegal_argument_exception, ...): it will never fit.
	reasonMapping = "mapping"
	// A document refused with 409 (version_conflict_engine_exception).
	reasonConflict = "conflict"
	// A document refused with 403 or 404 (a closed or missing index that may not be
	// created, a privilege missing on the index).
	reasonForbidden = "forbidden"
	reasonNotFound  = "not_found"
	// A document refused with another 4xx.
	reasonRejected = "rejected"
	// A whole request answered 401 or 403: wrong credentials or missing privileges.
	reasonUnauthorized = "unauthorized"
	// A whole request answered 413: larger than http.max_content_length.
	reasonTooLarge = "request_too_large"
	// A whole request answered another 4xx.
	reasonBadRequest = "bad_request"
)

var allReasons = []string{reasonMapping, reasonConflict, reasonForbidden, reasonNotFound, reasonRejected, reasonUnauthorized, reasonTooLarge, reasonBadRequest}

// Retry reasons (sonde_elasticsearch_write_retried_entries_total{reason}).
const (
	retryHTTP429    = "http_429"   // the whole request
	retryHTTP5xx    = "http_5xx"   // the whole request
	retryNetwork    = "network"    // no answer
	retryItem429    = "item_429"   // a document the bulk answer rejected with 429
	retryItem5xx    = "item_5xx"   // a document the bulk answer rejected with 5xx
	retryIncomplete = "incomplete" // a document the bulk answer says nothing of
	retryBadAnswer  = "bad_answer" // a 2xx answer that is not a bulk answer
)

var allRetryReasons = []string{retryHTTP429, retryHTTP5xx, retryNetwork, retryItem429, retryItem5xx, retryIncomplete, retryBadAnswer}

// op is one entry's operation in a request: buf[start:end] holds its two lines.
type op struct {
	start, end int
	part       int // index in request.parts
}

// request is one bulk request: the entries it carries (parts of queued items), their
// operations encoded once, which are still to be sent, and what became of the others.
// The sender reuses it from request to request.
type request struct {
	enc     *docEncoder
	buf     []byte // every operation
	ops     []op
	parts   []part
	pending []int  // ops still to be sent
	body    []byte // a retry's body: the pending ops
	dropped []map[string]int
	sample  string // the first drop's message
	retried []int  // scratch
	largeAt time.Time
}

// bufferIdle is how long the request's buffers may stay larger than the requests need:
// while Elasticsearch is down the queue fills and every request is batch_size; afterwards
// they are small again, and the memory of the backlog is given back.
const bufferIdle = time.Minute

// minBufferRelease is the buffer size (bytes) below which the buffers are always kept.
const minBufferRelease = 256 << 10

func (r *request) reset(enc *docEncoder) {
	r.enc = enc
	now := time.Now()
	if len(r.buf) > cap(r.buf)/2 {
		r.largeAt = now // the last request needed more than half of the buffer
	}
	if cap(r.buf) >= minBufferRelease && now.Sub(r.largeAt) >= bufferIdle {
		r.buf, r.body, r.largeAt = nil, nil, now
	}
	r.buf, r.body = r.buf[:0], r.body[:0]
	r.ops, r.pending = r.ops[:0], r.pending[:0]
	clear(r.parts) // let the items go
	r.parts = r.parts[:0]
	clear(r.dropped)
	r.dropped = r.dropped[:0]
	r.sample = ""
}

// add encodes e as the next operation; part is the index its part will have.
func (r *request) add(part int, e *pipeline.LogEntry) {
	start := len(r.buf)
	r.buf = r.enc.appendEntry(r.buf, e)
	r.pending = append(r.pending, len(r.ops))
	r.ops = append(r.ops, op{start: start, end: len(r.buf), part: part})
}

// nextBody returns the body carrying the pending operations.
func (r *request) nextBody() []byte {
	if len(r.pending) == len(r.ops) {
		return r.buf
	}
	r.body = r.body[:0]
	for _, i := range r.pending {
		r.body = append(r.body, r.buf[r.ops[i].start:r.ops[i].end]...)
	}
	return r.body
}

// drop records that pending op i is dropped for reason.
func (r *request) drop(i int, reason, msg string) {
	for len(r.dropped) < len(r.parts) {
		r.dropped = append(r.dropped, nil)
	}
	p := r.ops[i].part
	if r.dropped[p] == nil {
		r.dropped[p] = map[string]int{}
	}
	r.dropped[p][reason]++
	if r.sample == "" {
		r.sample = msg
	}
}

// bulkAnswer is the part of a bulk answer the sender reads.
type bulkAnswer struct {
	Errors bool `json:"errors"`
	// Items has one result per operation, in order; each is an object with one key, the
	// operation ("index", "create"; ZincSearch says "index" for every one).
	Items []map[string]bulkItem `json:"items"`
	// Error is not in Elasticsearch's answers: ZincSearch stops at the first document it
	// cannot store, answers 200 with this error and the results up to that document
	// (that document's included, marked stored), and leaves the rest undone.
	Error json.RawMessage `json:"error,omitempty"`
}

// bulkItem is one operation's result.
type bulkItem struct {
	Index  string          `json:"_index"`
	Status int             `json:"status"`
	Error  json.RawMessage `json:"error,omitempty"`
}

// itemError is Elasticsearch's error object.
type itemError struct {
	Type   string `json:"type"`
	Reason string `json:"reason"`
}

// answerHead is read first: when Elasticsearch says there are no errors, the items need
// not be decoded.
type answerHead struct {
	Errors bool            `json:"errors"`
	Error  json.RawMessage `json:"error,omitempty"`
}

// outcome sorts the pending operations after a 2xx answer: the stored ones are done, those
// refused for good are dropped (counted by reason), and the rest stay pending to be sent
// again. It returns the count per retry reason, nil when nothing is to be sent again.
func (r *request) outcome(body []byte) (stored int, dropped map[string]int, retry map[string]int) {
	if allStored(body) {
		stored = len(r.pending)
		r.pending = r.pending[:0]
		return stored, nil, nil
	}
	var head answerHead
	if err := json.Unmarshal(body, &head); err != nil {
		return 0, nil, map[string]int{retryBadAnswer: len(r.pending)}
	}
	if !head.Errors && isNull(head.Error) {
		stored = len(r.pending)
		r.pending = r.pending[:0]
		return stored, nil, nil
	}
	var ans bulkAnswer
	if err := json.Unmarshal(body, &ans); err != nil {
		return 0, nil, map[string]int{retryBadAnswer: len(r.pending)}
	}
	items := ans.Items
	if len(items) > len(r.pending) || (len(items) == 0 && !isNull(ans.Error)) {
		return 0, nil, map[string]int{retryBadAnswer: len(r.pending)}
	}
	dropped, retry = map[string]int{}, map[string]int{}
	r.retried = r.retried[:0]
	for k, i := range r.pending {
		if k >= len(items) {
			r.retried = append(r.retried, i)
			if isNull(ans.Error) {
				retry[retryIncomplete]++
			} // else: left undone after the failed document: sent again at once
			continue
		}
		var it bulkItem
		for _, v := range items[k] {
			it = v
		}
		if !isNull(ans.Error) && k == len(items)-1 && it.Status/100 == 2 {
			// ZincSearch: the last result is the document that failed.
			it.Status, it.Error = http.StatusBadRequest, ans.Error
		}
		switch {
		case it.Status/100 == 2:
			stored++
		case it.Status == http.StatusTooManyRequests:
			r.retried = append(r.retried, i)
			retry[retryItem429]++
		case it.Status >= 500 || it.Status == 0:
			r.retried = append(r.retried, i)
			retry[retryItem5xx]++
		default:
			reason := itemReason(it.Status)
			dropped[reason]++
			r.drop(i, reason, describeItem(it))
		}
	}
	r.pending = append(r.pending[:0], r.retried...)
	return stored, dropped, retry
}

// allStored reports whether the start of a bulk answer, before its items, says
// "errors":false and holds no "error" (ZincSearch's): then every document was stored, and
// the items (about 200 bytes a document) need not be read at all. Other spellings
// (whitespace, ?pretty) go through the decoder.
func allStored(body []byte) bool {
	i := bytes.Index(body, []byte(`"items"`))
	if i < 0 || i > 256 {
		return false
	}
	head := body[:i]
	return bytes.HasPrefix(head, []byte("{")) && bytes.Contains(head, []byte(`"errors":false`)) && !bytes.Contains(head, []byte(`"error"`))
}

// itemReason sorts a document refused for good.
func itemReason(status int) string {
	switch status {
	case http.StatusBadRequest:
		return reasonMapping
	case http.StatusConflict:
		return reasonConflict
	case http.StatusForbidden, http.StatusUnauthorized:
		return reasonForbidden
	case http.StatusNotFound:
		return reasonNotFound
	}
	return reasonRejected
}

// requestReason sorts a whole request refused for good.
func requestReason(status int) string {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return reasonUnauthorized
	case http.StatusRequestEntityTooLarge:
		return reasonTooLarge
	}
	return reasonBadRequest
}

// describeItem is a refused document's error for the acknowledgement and the log.
func describeItem(it bulkItem) string {
	var e itemError
	msg := strings.TrimSpace(string(it.Error))
	if json.Unmarshal(it.Error, &e) == nil && (e.Type != "" || e.Reason != "") {
		msg = e.Type + ": " + e.Reason
	} else if s := ""; json.Unmarshal(it.Error, &s) == nil {
		msg = s
	}
	if len(msg) > 512 {
		msg = msg[:512] + "…"
	}
	return fmt.Sprintf("index %s: status %d: %s", it.Index, it.Status, msg)
}

func isNull(m json.RawMessage) bool {
	m = bytes.TrimSpace(m)
	return len(m) == 0 || bytes.Equal(m, []byte("null")) || bytes.Equal(m, []byte(`""`))
}

// entrySize is an entry's weight in the queue: its line, labels (labelsSize) and
// structured metadata, and the JSON around them.
func entrySize(e *pipeline.LogEntry, labelsSize int) int {
	n := 96 + len(e.Line) + labelsSize // 96: the action line, the field names, the timestamp
	e.StructuredMetadata.Range(func(l labels.Label) { n += len(l.Name) + len(l.Value) + 6 })
	return n
}

// labelsSize is the weight of a label map in entrySize.
func labelsSize(ls model.LabelSet) int {
	n := 0
	for k, v := range ls {
		n += len(k) + len(v) + 6
	}
	return n
}
