package pipelinetest

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/sondehq/sonde/pipeline"
)

// HammerDebugInfo reads and marshals c's DebugInfo every millisecond, as the debug page
// might, so the race detector sees it alongside whatever the test does. stop ends it and
// waits.
func HammerDebugInfo(c pipeline.DebugInfoProvider) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				_, _ = json.Marshal(c.DebugInfo())
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
