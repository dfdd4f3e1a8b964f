// Package echo is loki.echo: a logs sink that prints every entry as one JSON line, so that
// a user without a Loki sees what sonde would push (the presets use it when no --loki-url
// is given).
package echo

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sondehq/sonde/pipeline"
)

// Arguments configure loki.echo.
type Arguments struct {
	// Output is "stdout" or "stderr".
	Output string `yaml:"output"`
}

// Validate implements pipeline.Arguments.
func (a *Arguments) Validate() error {
	if a.Output != "stdout" && a.Output != "stderr" {
		return pipeline.Field("output", "want stdout or stderr, got %q", a.Output)
	}
	return nil
}

// DefaultArguments returns the arguments with their defaults: print to stdout.
func DefaultArguments() *Arguments { return &Arguments{Output: "stdout"} }

// Registration declares loki.echo.
var Registration = pipeline.Register("loki.echo", DefaultArguments, New, pipeline.KindLogs)

// Component prints entries.
type Component struct {
	mu      sync.Mutex
	w       *bufio.Writer
	enc     *json.Encoder
	entries prometheus.Counter
}

var (
	_ pipeline.Component    = (*Component)(nil)
	_ pipeline.LogsReceiver = (*Component)(nil)
)

// New builds a loki.echo printing to args.Output; it starts nothing.
func New(opts pipeline.Options, args *Arguments) (*Component, error) {
	w := io.Writer(os.Stdout)
	if args.Output == "stderr" {
		w = os.Stderr
	}
	return newWriting(opts, w)
}

// newWriting returns a loki.echo writing to w.
func newWriting(opts pipeline.Options, w io.Writer) (*Component, error) {
	c := &Component{w: bufio.NewWriter(w)}
	c.enc = json.NewEncoder(c.w)
	c.enc.SetEscapeHTML(false)
	c.entries = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sonde_loki_echo_entries_total", Help: "Log entries printed by loki.echo.",
	})
	if err := opts.Registerer.Register(c.entries); err != nil {
		return nil, err
	}
	return c, nil
}

// Run waits for shutdown.
func (c *Component) Run(ctx context.Context) error {
	<-ctx.Done()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.w.Flush()
}

type line struct {
	Time               time.Time         `json:"ts"`
	Labels             map[string]string `json:"labels"`
	Line               string            `json:"line"`
	StructuredMetadata map[string]string `json:"structured_metadata,omitempty"`
}

// ConsumeLogs prints the batch and acknowledges it.
func (c *Component) ConsumeLogs(_ context.Context, b pipeline.LogBatch) error {
	c.mu.Lock()
	var err error
	for _, e := range b.Entries {
		l := line{Time: e.Timestamp, Line: e.Line, Labels: make(map[string]string, len(e.Labels))}
		for k, v := range e.Labels {
			l.Labels[string(k)] = string(v)
		}
		if e.StructuredMetadata.Len() > 0 {
			l.StructuredMetadata = e.StructuredMetadata.Map()
		}
		if err = c.enc.Encode(l); err != nil {
			break
		}
	}
	if err == nil {
		err = c.w.Flush()
	}
	c.mu.Unlock()
	c.entries.Add(float64(len(b.Entries)))
	b.Ack(err)
	return nil
}
