package otelcol

import (
	"context"

	"github.com/sondehq/sonde/pipeline"
)

// SendContext returns the context a component sends in, from its Run context ctx: it is not
// cancelled when ctx ends, so a send under way when the component is told to stop can
// finish, but it ends at the deadline the controller gives the stop (pipeline.FlushContext).
// A send that waits for a downstream acknowledgement (Loki's, a sending queue's) thus never
// outlives the shutdown budget. cancel releases it.
func SendContext(ctx context.Context) (context.Context, context.CancelFunc) {
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		fctx, fcancel := pipeline.FlushContext(ctx)
		context.AfterFunc(fctx, cancel)
		context.AfterFunc(sctx, fcancel)
	})
	return sctx, func() {
		stop()
		cancel()
	}
}
