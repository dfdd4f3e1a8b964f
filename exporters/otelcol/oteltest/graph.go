package oteltest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sondehq/sonde/config"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// GraphOptions configure StartGraph; the zero value is fine.
type GraphOptions struct {
	// DataPath is the storage directory (default: a new temporary one).
	DataPath string
	// ShutdownTimeout is the controller's shutdown budget (default: the controller's).
	ShutdownTimeout time.Duration
	// Env answers ${VAR} in the configuration (default: nothing is set).
	Env map[string]string
}

// Graph is a sonde configuration running under a real controller in a test.
type Graph struct {
	Controller *pipeline.Controller
	// Logs holds what the controller and the components logged (info and up).
	Logs *pipelinetest.LogBuffer
	// Metrics is the registry the components register in.
	Metrics *prometheus.Registry
	cancel  context.CancelFunc
	done    chan struct{}
}

// StartGraph parses yml (a configuration file's text) with reg and runs it under a
// controller until Stop or the end of the test.
func StartGraph(t testing.TB, reg *pipeline.Registry, yml string, o GraphOptions) *Graph {
	t.Helper()
	f, err := config.Parse("test.yaml", []byte(yml), reg, func(k string) (string, bool) {
		v, ok := o.Env[k]
		return v, ok
	})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if o.DataPath == "" {
		o.DataPath = t.TempDir()
	}
	g := &Graph{Logs: &pipelinetest.LogBuffer{}, Metrics: prometheus.NewRegistry(), done: make(chan struct{})}
	g.Controller = pipeline.NewController(pipeline.ControllerOptions{Registry: reg, Logger: g.Logs.Logger(slog.LevelInfo),
		Registerer: g.Metrics, DataPath: o.DataPath, ShutdownTimeout: o.ShutdownTimeout})
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	go func() { g.Controller.Run(ctx); close(g.done) }()
	t.Cleanup(func() { g.Stop() })
	if err := g.Controller.Apply(f.Specs); err != nil {
		t.Fatalf("apply: %v", err)
	}
	return g
}

// Stop ends the controller's Run, as SIGTERM does, and returns how long the shutdown took.
// Stopping twice is fine.
func (g *Graph) Stop() time.Duration {
	began := time.Now()
	g.cancel()
	<-g.done
	return time.Since(began)
}

// Dial returns a plain-text gRPC connection to addr, closed when the test ends.
func Dial(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}
