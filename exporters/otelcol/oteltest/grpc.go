package oteltest

import (
	"net"
	"testing"

	"google.golang.org/grpc"
)

// ServeGRPC serves srv on a free port of 127.0.0.1 until the test ends (then stops it and
// waits for Serve to return) and returns its host:port.
func ServeGRPC(t testing.TB, srv *grpc.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return ln.Addr().String()
}
