package write

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/common/config"

	"github.com/sondehq/sonde/internal/httppush"
)

// maxAnswer bounds how much of a bulk answer is read: one result per document, about 200
// bytes each, so a 5 MiB request of short lines is answered in a few MiB.
const maxAnswer = 64 << 20

// client posts bulk requests to the nodes of one cluster in turn (an httppush.Client per
// node, reading 2xx answers: the bulk API's answer lists the result of every document).
type client struct {
	nodes []*httppush.Client
	urls  []config.URL
	next  int // the node of the next request; only the sender uses it

	gzip *gzip.Writer // with compression: gzip; only the sender uses it
	buf  bytes.Buffer // the compressed body
}

// result is the outcome of one bulk request.
type result struct {
	httppush.Result
	node int
}

func newClient(e *EndpointConfig) (*client, error) {
	c := &client{urls: e.URL}
	encoding := ""
	if e.Compression == compressionGzip {
		encoding = "gzip"
		c.gzip, _ = gzip.NewWriterLevel(nil, gzip.BestSpeed) // BestSpeed is a valid level
	}
	for _, u := range e.URL {
		hc, err := httppush.New(httppush.Config{
			Name:             "elasticsearch.write",
			URL:              bulkURL(u),
			HTTPClientConfig: e.httpClientConfig(),
			Headers:          e.Headers,
			ContentType:      "application/x-ndjson",
			ContentEncoding:  encoding,
			Timeout:          time.Duration(e.Timeout),
			MaxErrorBody:     16 << 10,
			ReadAnswer:       maxAnswer,
		})
		if err != nil {
			c.closeIdle()
			return nil, err
		}
		c.nodes = append(c.nodes, hc)
	}
	return c, nil
}

// encode returns body as it is sent: compressed when the endpoint says so.
func (c *client) encode(body []byte) []byte {
	if c.gzip == nil {
		return body
	}
	c.buf.Reset()
	c.gzip.Reset(&c.buf)
	_, _ = c.gzip.Write(body) // a bytes.Buffer does not fail
	_ = c.gzip.Close()
	return c.buf.Bytes()
}

// post sends body (encoded) to the next node.
func (c *client) post(ctx context.Context, body []byte) result {
	node := c.next
	c.next = (c.next + 1) % len(c.nodes)
	res := result{Result: c.nodes[node].Post(ctx, body), node: node}
	if res.Status == http.StatusUnauthorized || res.Status == http.StatusForbidden {
		res.Err = fmt.Errorf("authentication or authorization failed (check basic_auth, api_key or authorization): %w", res.Err)
	}
	return res
}

func (c *client) closeIdle() {
	for _, n := range c.nodes {
		n.CloseIdleConnections()
	}
}
