package esspec

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8/typedapi/core/bulk"
	"github.com/elastic/go-elasticsearch/v8/typedapi/types"
	"github.com/elastic/go-elasticsearch/v8/typedapi/types/enums/operationtype"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/elasticsearch/write"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// server is a bulk endpoint that reads requests with Elastic's request types and answers
// with bulk.Response: the documents whose message says "busy" get a 429 the first time,
// "unmappable" a 400 document_parsing_exception, the others 201.
type server struct {
	t *testing.T

	mu     sync.Mutex
	stored map[string]int // message → times answered 201
	busy   map[string]bool
	ops    []string // operation names seen
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	if got := r.Header.Get("Content-Type"); got != "application/x-ndjson" {
		s.t.Errorf("Content-Type %q, want application/x-ndjson", got)
	}
	res := bulk.Response{Took: 1, Items: []map[operationtype.OperationType]types.ResponseItem{}}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		var action types.OperationContainer
		if err := json.Unmarshal(sc.Bytes(), &action); err != nil {
			s.t.Errorf("action line %s: %v", sc.Text(), err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var (
			op    operationtype.OperationType
			index *string
		)
		switch {
		case action.Create != nil:
			op, index = operationtype.Create, action.Create.Index_
		case action.Index != nil:
			op, index = operationtype.Index, action.Index.Index_
		default:
			s.t.Errorf("action line %s: neither create nor index", sc.Text())
		}
		s.ops = append(s.ops, op.String())
		if !sc.Scan() {
			s.t.Errorf("no source line after %s", sc.Bytes())
			return
		}
		var doc struct {
			Timestamp *time.Time `json:"@timestamp"`
			Message   *string    `json:"message"`
		}
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil || doc.Timestamp == nil || doc.Message == nil {
			s.t.Errorf("source line %s: %v (want @timestamp and message)", sc.Text(), err)
			return
		}
		item := types.ResponseItem{Index_: *index, Status: http.StatusCreated}
		switch msg := *doc.Message; {
		case strings.Contains(msg, "busy") && !s.busy[msg]:
			s.busy[msg] = true
			reason := "rejected execution of coordinating operation"
			item.Status, item.Error = http.StatusTooManyRequests, &types.ErrorCause{Type: "es_rejected_execution_exception", Reason: &reason}
		case strings.Contains(msg, "unmappable"):
			reason := "[1:42] failed to parse field [labels.code] of type [long]"
			item.Status, item.Error = http.StatusBadRequest, &types.ErrorCause{Type: "document_parsing_exception", Reason: &reason}
		default:
			s.stored[msg]++
		}
		res.Errors = res.Errors || item.Status >= 300
		res.Items = append(res.Items, map[operationtype.OperationType]types.ResponseItem{op: item})
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(res); err != nil {
		s.t.Error(err)
	}
}

func decodeArgs(t *testing.T, doc string) *write.Arguments {
	t.Helper()
	a := pipelinetest.DecodeArgs[*write.Arguments](t, write.Registration, doc)
	require.NoError(t, a.Validate())
	return a
}

// TestBulkWireFormat: elasticsearch.write's requests parse as Elastic's bulk request
// types, and it reads answers marshalled from Elastic's bulk.Response: 429 documents are
// sent again, alone, 400 documents dropped and counted, and the others stored once.
func TestBulkWireFormat(t *testing.T) {
	for _, dataStream := range []bool{false, true} {
		name, index, wantOp := "index", "logs-%Y.%m.%d", "index"
		if dataStream {
			name, index, wantOp = "data stream", "logs-sonde-default", "create"
		}
		t.Run(name, func(t *testing.T) {
			s := &server{t: t, stored: map[string]int{}, busy: map[string]bool{}}
			srv := httptest.NewServer(s)
			defer srv.Close()
			opts := pipelinetest.Options(t, "elasticsearch.write/spec", pipelinetest.NewHost())
			args := decodeArgs(t, "endpoint: {url: "+srv.URL+"}\nbatch_wait: 10ms\nmin_backoff: 10ms\nindex: \""+index+"\"\n")
			args.DataStream = dataStream
			c, err := write.New(opts, args)
			require.NoError(t, err)
			stop := pipelinetest.Run(t, c)
			defer stop()

			lines := []string{"a", "busy-1", "b", "unmappable", "busy-2", "c"}
			es := make([]pipeline.LogEntry, len(lines))
			for i, l := range lines {
				es[i] = pipeline.LogEntry{Labels: model.LabelSet{"job": "spec"}, Timestamp: time.Now(), Line: l}
			}
			acked := make(chan error, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			require.NoError(t, c.ConsumeLogs(ctx, pipeline.NewLogBatch(es, func(err error) { acked <- err })))
			var ackErr error
			select {
			case ackErr = <-acked:
			case <-ctx.Done():
				t.Fatal("batch not acknowledged")
			}
			require.ErrorContains(t, ackErr, "1 of 6 entries dropped (mapping: 1)")
			require.ErrorContains(t, ackErr, "document_parsing_exception")

			s.mu.Lock()
			defer s.mu.Unlock()
			require.Equal(t, map[string]int{"a": 1, "b": 1, "c": 1, "busy-1": 1, "busy-2": 1}, s.stored)
			require.Len(t, s.ops, len(lines)+2, "the two 429 documents were sent again, nothing else")
			for _, op := range s.ops {
				require.Equal(t, wantOp, op)
			}
			g := opts.Registerer.(prometheus.Gatherer)
			require.Equal(t, 2.0, pipelinetest.MetricValue(t, g, "sonde_elasticsearch_write_retried_entries_total", "reason", "item_429"))
			require.Equal(t, 1.0, pipelinetest.MetricValue(t, g, "sonde_elasticsearch_write_dropped_entries_total", "reason", "mapping"))
			require.Equal(t, 5.0, pipelinetest.MetricValue(t, g, "sonde_elasticsearch_write_sent_entries_total"))
		})
	}
}
