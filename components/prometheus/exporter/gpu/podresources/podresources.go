// Package podresources asks the kubelet which containers hold which devices, through
// the pod-resources gRPC API (k8s.io/kubelet/pkg/apis/podresources/v1) on its unix socket.
package podresources

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	v1 "k8s.io/kubelet/pkg/apis/podresources/v1"
)

// maxResponseBytes bounds one List answer (the kubelet's own limit is 16 MiB).
const maxResponseBytes = 16 << 20

// Assignment is one container's devices of one resource.
type Assignment struct {
	Namespace string
	Pod       string
	Container string
	Resource  string   // "nvidia.com/gpu"
	DeviceIDs []string // as the device plugin named them: "GPU-…", "GPU-…::3", "MIG-…"
}

// Client lists pod resources. It keeps one gRPC connection, which reconnects on its own
// when the kubelet restarts. Not safe for concurrent use with Close.
type Client struct {
	socket string
	conn   *grpc.ClientConn
	lister v1.PodResourcesListerClient
}

// New returns a client for the kubelet socket at path; it connects on first use.
func New(path string) (*Client, error) {
	conn, err := grpc.NewClient("unix://"+path,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxResponseBytes)),
	)
	if err != nil {
		return nil, fmt.Errorf("pod-resources client for %s: %w", path, err)
	}
	return &Client{socket: path, conn: conn, lister: v1.NewPodResourcesListerClient(conn)}, nil
}

// ErrSocketMissing is returned by List when the socket file does not exist (no kubelet,
// or the socket's directory is not mounted into the container).
var ErrSocketMissing = errors.New("pod-resources socket not found")

// List returns every device assignment of every container on the node. Resources are
// filtered by keep (nil keeps all).
func (c *Client) List(ctx context.Context, keep func(resource string) bool) ([]Assignment, error) {
	if _, err := os.Stat(c.socket); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrSocketMissing, c.socket)
	}
	resp, err := c.lister.List(ctx, &v1.ListPodResourcesRequest{})
	if err != nil {
		return nil, fmt.Errorf("pod-resources List on %s: %w", c.socket, err)
	}
	var out []Assignment
	for _, p := range resp.GetPodResources() {
		for _, ctr := range p.GetContainers() {
			for _, d := range ctr.GetDevices() {
				if keep != nil && !keep(d.GetResourceName()) {
					continue
				}
				out = append(out, Assignment{
					Namespace: p.GetNamespace(), Pod: p.GetName(), Container: ctr.GetName(),
					Resource: d.GetResourceName(), DeviceIDs: d.GetDeviceIds(),
				})
			}
		}
	}
	return out, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Reason sorts a List error into a short, bounded label value.
func Reason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrSocketMissing):
		return "socket_missing"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	s, _ := status.FromError(err) // FromError finds a status wrapped in err
	switch s.Code() {
	case codes.Unavailable:
		return "unavailable"
	case codes.DeadlineExceeded:
		return "timeout"
	case codes.PermissionDenied, codes.Unauthenticated:
		return "permission_denied"
	case codes.Unimplemented:
		return "unimplemented"
	}
	return "error"
}
