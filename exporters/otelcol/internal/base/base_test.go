package base

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestMapErr: a full sending queue, and a full disk under a persistent queue, are answered
// RESOURCE_EXHAUSTED with a retry delay (429 with Retry-After over HTTP); other errors are
// left alone.
func TestMapErr(t *testing.T) {
	for _, err := range []error{exporterhelper.ErrQueueIsFull, fmt.Errorf("offer: %w", storage.ErrStorageFull)} {
		st := status.Convert(mapErr(err))
		require.Equal(t, codes.ResourceExhausted, st.Code(), "%v", err)
		require.Len(t, st.Details(), 1)
		require.Equal(t, time.Second, st.Details()[0].(*errdetails.RetryInfo).GetRetryDelay().AsDuration())
	}
	other := errors.New("other")
	require.Equal(t, other, mapErr(other))
	require.NoError(t, mapErr(nil))
}
