package podresources

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestReason(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{fmt.Errorf("%w: /x", ErrSocketMissing), "socket_missing"},
		{fmt.Errorf("list: %w", context.DeadlineExceeded), "timeout"},
		{fmt.Errorf("list: %w", status.Error(codes.Unavailable, "connection refused")), "unavailable"},
		{fmt.Errorf("list: %w", status.Error(codes.DeadlineExceeded, "slow")), "timeout"},
		{fmt.Errorf("list: %w", status.Error(codes.PermissionDenied, "no")), "permission_denied"},
		{fmt.Errorf("list: %w", status.Error(codes.Unimplemented, "old kubelet")), "unimplemented"},
		{errors.New("other"), "error"},
	} {
		require.Equal(t, tc.want, Reason(tc.err), "%v", tc.err)
	}
}

func TestListSocketMissing(t *testing.T) {
	c, err := New(filepath.Join(t.TempDir(), "kubelet.sock"))
	require.NoError(t, err)
	defer c.Close()
	_, err = c.List(context.Background(), nil)
	require.ErrorIs(t, err, ErrSocketMissing)
}
