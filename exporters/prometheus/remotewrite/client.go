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

// newClient builds the client that posts remote-write 1.0 requests (snappy-compressed
// prompb.WriteRequest bodies) to the endpoint.
func newClient(ep EndpointConfig) (*httppush.Client, error) {
	return httppush.New(httppush.Config{
		Name:             "remote_write",
		URL:              ep.URL.String(),
		HTTPClientConfig: ep.HTTPClientConfig,
		Headers:          ep.Headers,
		ContentType:      "application/x-protobuf",
		ContentEncoding:  "snappy",
		ProtocolHeaders:  map[string]string{"X-Prometheus-Remote-Write-Version": "0.1.0"},
		Timeout:          time.Duration(ep.RemoteTimeout),
	})
}
