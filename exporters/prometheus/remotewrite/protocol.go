package remotewrite

import (
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/prometheus/prometheus/storage/remote"

	"github.com/sondehq/sonde/internal/httppush"
)

// The values of protobuf_message: Prometheus' names of the two messages, and auto.
const (
	protobufV1   = "prometheus.WriteRequest"
	protobufV2   = "io.prometheus.write.v2.Request"
	protobufAuto = "auto"
)

// protocol is the remote-write version a request is encoded in.
type protocol int

const (
	protoV1 protocol = iota // remote write 1.0: prompb.WriteRequest
	protoV2                 // remote write 2.0: writev2.Request
)

// message is the protocol's protobuf message name (protobuf_message, and the metrics' label).
func (p protocol) message() string {
	if p == protoV2 {
		return protobufV2
	}
	return protobufV1
}

// contentType and version are the protocol's request headers (the specs' Content-Type and
// X-Prometheus-Remote-Write-Version).
func (p protocol) contentType() string {
	if p == protoV2 {
		return "application/x-protobuf;proto=" + protobufV2
	}
	return "application/x-protobuf"
}

func (p protocol) version() string {
	if p == protoV2 {
		return "2.0.0"
	}
	return "0.1.0"
}

// parseProtobufMessage reads protobuf_message; auto reports true.
func parseProtobufMessage(s string) (p protocol, auto bool, err error) {
	switch s {
	case protobufV1:
		return protoV1, false, nil
	case protobufV2:
		return protoV2, false, nil
	case protobufAuto, "":
		return protoV2, true, nil
	}
	return 0, false, fmt.Errorf("unknown message %q (valid: %s, %s, %s)", s, protobufAuto, protobufV2, protobufV1)
}

// negotiation is the protocol an endpoint speaks. With auto it starts at 2.0 and falls
// back to 1.0 once, for as long as the process runs: it belongs to the endpoint, not to its
// sender, so a sender restarted (settings changed, WAL bounds) keeps it. Safe for
// concurrent use by the shards.
type negotiation struct {
	auto     bool
	fixed    protocol
	fellBack atomic.Bool
	m        *endpointMetrics
}

func newNegotiation(cfg EndpointConfig, m *endpointMetrics) *negotiation {
	p, auto, _ := parseProtobufMessage(cfg.ProtobufMessage) // validated
	n := &negotiation{auto: auto, fixed: p, m: m}
	n.publish()
	return n
}

// current is the protocol to encode the next request in.
func (n *negotiation) current() protocol {
	if n.auto && n.fellBack.Load() {
		return protoV1
	}
	return n.fixed
}

// mustFallBack reports whether a request sent as p, answered res, shows a 1.0-only
// receiver: 415 Unsupported Media Type, or a 2xx without any *-Written header (a 1.0
// receiver decodes a 2.0 body as an empty 1.0 request and answers 204: nothing written).
// Only with auto; the batch must then be sent again as 1.0.
func (n *negotiation) mustFallBack(p protocol, res httppush.Result, stats remote.WriteResponseStats) bool {
	if !n.auto || p != protoV2 {
		return false
	}
	return res.Status == http.StatusUnsupportedMediaType || (res.Err == nil && !stats.Confirmed)
}

// fallBack switches to 1.0 for good; the first call logs it and counts it.
func (n *negotiation) fallBack(logger *slog.Logger, url string, status int) {
	if !n.fellBack.CompareAndSwap(false, true) {
		return
	}
	n.m.protocolFallbacks.Inc()
	n.publish()
	reason := "2xx without X-Prometheus-Remote-Write-*-Written headers"
	if status == http.StatusUnsupportedMediaType {
		reason = "415 Unsupported Media Type"
	}
	logger.Warn("receiver does not speak remote write 2.0, falling back to 1.0 for the life of the process",
		"url", url, "status", status, "reason", reason)
}

// publish sets the protocol info metric to the protocol in use.
func (n *negotiation) publish() {
	cur := n.current()
	for _, p := range []protocol{protoV1, protoV2} {
		if p == cur {
			n.m.protocol.WithLabelValues(p.message()).Set(1)
		} else {
			n.m.protocol.DeleteLabelValues(p.message())
		}
	}
}

// writeStats reads the *-Written headers of a response (remote.ParseWriteResponseStats):
// stats.Confirmed when there is one; counted is false when one does not parse (a buggy
// receiver: its counts say nothing).
func writeStats(res httppush.Result) (stats remote.WriteResponseStats, counted bool) {
	if res.Header == nil {
		return remote.WriteResponseStats{}, false
	}
	stats, err := remote.ParseWriteResponseStats(&http.Response{Header: res.Header})
	return stats, err == nil && stats.Confirmed
}
