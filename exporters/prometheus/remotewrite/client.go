package remotewrite

import (
	"time"

	"github.com/sondehq/sonde/internal/httppush"
)

// inflightGrace is how long a request in flight may still complete once the sender stops
// (sender.stopBy, never past the flush deadline at shutdown): a request the receiver took
// but whose answer the sender never read would be sent again after a restart (a duplicate,
// older than what the receiver has by then). The sender keeps the grace itself (its
// requests' context), since it must end at the flush deadline.
const inflightGrace = 5 * time.Second

// newClient builds the client that posts requests of protocol p (snappy-compressed
// prompb.WriteRequest or writev2.Request bodies) to the endpoint, signed when sigv4 is set.
func newClient(ep EndpointConfig, p protocol) (*httppush.Client, error) {
	return httppush.New(httppush.Config{
		Name:             "remote_write",
		URL:              ep.URL.String(),
		HTTPClientConfig: ep.HTTPClientConfig,
		Headers:          ep.Headers,
		ContentType:      p.contentType(),
		ContentEncoding:  "snappy",
		ProtocolHeaders:  map[string]string{"X-Prometheus-Remote-Write-Version": p.version()},
		Timeout:          time.Duration(ep.RemoteTimeout),
		WrapTransport:    ep.SigV4.wrapTransport(),
	})
}

// newClients builds the clients of the protocols the endpoint may speak, by protocol.
func newClients(ep EndpointConfig) ([2]*httppush.Client, error) {
	var out [2]*httppush.Client
	p, auto, _ := parseProtobufMessage(ep.ProtobufMessage) // validated
	for _, q := range []protocol{protoV1, protoV2} {
		if !auto && q != p {
			continue
		}
		cl, err := newClient(ep, q)
		if err != nil {
			return out, err
		}
		out[q] = cl
	}
	return out, nil
}
