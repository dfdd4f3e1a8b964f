package write

import (
	"context"
	"time"

	"github.com/sondehq/sonde/internal/httppush"
)

// maxErrorBody is how much of an error response is read: enough for Loki's messages, which
// dropReasons reads the refused entries' reasons from.
const maxErrorBody = 16 << 10

// client posts an endpoint's snappy-compressed push requests.
type client struct {
	hc *httppush.Client
}

// newClient builds the endpoint's client: a request ends with the drain deadline, which
// bounds how long a stop takes.
func newClient(ep *EndpointConfig) (*client, error) {
	hc, err := httppush.New(httppush.Config{
		Name:             "loki.write",
		URL:              ep.URL.String(),
		HTTPClientConfig: ep.HTTPClientConfig,
		Headers:          ep.Headers,
		TenantID:         ep.TenantID,
		ContentType:      "application/x-protobuf",
		ContentEncoding:  "snappy",
		Timeout:          time.Duration(ep.Timeout),
		MaxErrorBody:     maxErrorBody,
	})
	if err != nil {
		return nil, err
	}
	return &client{hc: hc}, nil
}

// push sends one request body.
func (c *client) push(ctx context.Context, body []byte) httppush.Result {
	return c.hc.Post(ctx, body)
}
