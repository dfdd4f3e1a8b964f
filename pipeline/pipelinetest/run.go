package pipelinetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sondehq/sonde/pipeline"
)

// Run runs c until stop is called or the test ends, whichever comes first. stop cancels
// Run and fails the test unless Run returns nil within a minute; calling it twice is fine.
func Run(t testing.TB, c pipeline.Component) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("%T.Run: %v", c, err)
				}
			case <-time.After(time.Minute):
				t.Errorf("%T.Run did not return within a minute of cancellation", c)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
