package otelcol

import (
	"context"
	"time"

	"github.com/sondehq/sonde/pipeline"
)

// SendContext returns the context a component that sends to other components (a processor)
// sends in, from its Run context ctx: it is not cancelled when ctx ends, so a send under way
// when the component is told to stop can finish, but it ends halfway between the stop and
// the deadline the controller gives it (pipeline.FlushContext). The components it sends to
// are stopped only once it has stopped, and flush within the same deadline: the other half
// is theirs. A send waiting on a downstream acknowledgement (Loki's) thus never eats the
// whole shutdown budget. cancel releases it.
func SendContext(ctx context.Context) (context.Context, context.CancelFunc) {
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		fctx, fcancel := pipeline.FlushContext(ctx)
		deadline, _ := fctx.Deadline()
		half, hcancel := context.WithDeadline(fctx, deadline.Add(-time.Until(deadline)/2))
		context.AfterFunc(half, func() {
			hcancel()
			fcancel()
			cancel()
		})
		context.AfterFunc(sctx, hcancel)
	})
	return sctx, func() {
		stop()
		cancel()
	}
}
