//go:build full

package oteltest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestJaegerHarness sends traces straight to Jaeger over OTLP/gRPC and OTLP/HTTP, reads them
// back with their resource attributes, restarts Jaeger (Badger keeps them), and checks that
// Jaeger listens on 127.0.0.1 only, on the configured ports only.
func TestJaegerHarness(t *testing.T) {
	j := StartJaeger(t)
	require.ElementsMatch(t,
		[]int{j.OTLPGRPCPort, j.OTLPHTTPPort, j.QueryHTTPPort, j.QueryGRPCPort, j.HealthPort, j.MetricsPort},
		listeningPorts(t, j.proc.PID()), "Jaeger's listening TCP ports")

	conn, err := grpc.NewClient(j.OTLPGRPCEndpoint(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	_, err = ptraceotlp.NewGRPCClient(conn).Export(context.Background(),
		ptraceotlp.NewExportRequestFromTraces(Traces(42, 3, map[string]string{"k8s.pod.name": "p"})))
	require.NoError(t, err)

	body, err := ptraceotlp.NewExportRequestFromTraces(Traces(43, 2, map[string]string{"k8s.pod.name": "q"})).MarshalProto()
	require.NoError(t, err)
	resp, err := http.Post(j.OTLPHTTPEndpoint()+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	check := func(id uint64, spans int, pod string) {
		t.Helper()
		var got ptrace.Traces
		require.Eventually(t, func() bool {
			td, found, err := j.Trace(context.Background(), TraceID(id))
			require.NoError(t, err)
			got = td
			return found && td.SpanCount() == spans
		}, time.Minute, 200*time.Millisecond)
		for i := 0; i < got.ResourceSpans().Len(); i++ {
			attrs := got.ResourceSpans().At(i).Resource().Attributes()
			v, ok := attrs.Get("k8s.pod.name")
			require.True(t, ok, "k8s.pod.name in %v", attrs.AsRaw())
			require.Equal(t, pod, v.Str())
			v, ok = attrs.Get("service.name")
			require.True(t, ok, "service.name in %v", attrs.AsRaw())
			require.Equal(t, "sonde-test", v.Str())
		}
	}
	check(42, 3, "p")
	check(43, 2, "q")
	_, found, err := j.Trace(context.Background(), TraceID(44))
	require.NoError(t, err)
	require.False(t, found, "a trace never sent")

	j.Restart()
	for _, id := range []uint64{42, 43} {
		td, found, err := j.Trace(context.Background(), TraceID(id))
		require.NoError(t, err)
		require.True(t, found, "trace %d survives a restart (Badger)", id)
		require.Positive(t, td.SpanCount())
	}
}

// listeningPorts returns the TCP ports process pid listens on, failing the test for a
// listener on another address than 127.0.0.1 (Linux: its socket inodes in /proc/<pid>/fd,
// looked up in /proc/<pid>/net/tcp and tcp6).
func listeningPorts(t *testing.T, pid int) []int {
	t.Helper()
	require.NotZero(t, pid, "process not running")
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(fdDir)
	require.NoError(t, err)
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	var ports []int
	for _, table := range []string{"tcp", "tcp6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		require.NoError(t, err)
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" || !inodes[fields[9]] {
				continue
			}
			addr, port, ok := strings.Cut(fields[1], ":")
			require.True(t, ok, fields[1])
			p, err := strconv.ParseInt(port, 16, 32)
			require.NoError(t, err)
			// 127.0.0.1 in the kernel's byte order, as IPv4 or IPv4-mapped IPv6.
			loopback := addr == "0100007F" || addr == "0000000000000000FFFF00000100007F"
			require.True(t, loopback, "%s listener on %s, port %d: not 127.0.0.1", table, addr, p)
			ports = append(ports, int(p))
		}
		require.NoError(t, sc.Err())
		f.Close()
	}
	sort.Ints(ports)
	return ports
}
