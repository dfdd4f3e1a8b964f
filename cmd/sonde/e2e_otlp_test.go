package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sondehq/sonde/discovery/kubetest"
	"github.com/sondehq/sonde/exporters/backendtest"
	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
)

// TestE2EOTLPDaemonset runs the daemonset preset as the DaemonSet runs it (NODE_NAME, the API
// server from a kubeconfig) with applications instrumented with the OpenTelemetry Go SDK
// sending to it over OTLP/gRPC and OTLP/HTTP. Their spans reach a real Tempo carrying the
// sending pod's Kubernetes attributes, found in the node's pod cache by the connection's
// source address. Loki is down the whole time: the tailed log lines wait in loki.write while
// traces, OTLP metrics and host metrics keep flowing to Tempo and a real Prometheus.
func TestE2EOTLPDaemonset(t *testing.T) {
	srv := kubetest.Start(t)
	// The application's pod has its own IP, 127.0.0.1 (the test's connections come from
	// there); the node's is another one: a pod sharing its node's IP is on the host network
	// and is never identified by address.
	srv.CreateNode(t, kubetest.Node{Name: "node-1", InternalIP: "192.0.2.10"})
	srv.CreateNamespace(t, "shop")
	pod := srv.CreatePod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "checkout-7d4b9c6f58-x2x9q",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet",
				Name: "checkout-7d4b9c6f58", UID: "5f0a7c1e-0000-4000-8000-000000000001", Controller: ptrTrue()}}},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "checkout"}}},
	}, &kubetest.PodStatus{PodIP: "127.0.0.1", HostIP: "192.0.2.10", Ready: true})
	useKubeconfig(t, srv)

	tempo := oteltest.StartTempo(t)
	prom := backendtest.StartPrometheus(t)
	deadLoki := fmt.Sprintf("http://127.0.0.1:%d", backendtest.FreePort(t)) // nothing listens there

	// The pod writes container logs; they can only queue, Loki being down.
	logDir := t.TempDir()
	containerDir := filepath.Join(logDir, fmt.Sprintf("shop_%s_%s", pod.Name, pod.UID), "checkout")
	require.NoError(t, os.MkdirAll(containerDir, 0o755))
	var lines strings.Builder
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&lines, "%s stdout F checkout line %d\n", time.Now().UTC().Format(time.RFC3339Nano), i)
	}
	require.NoError(t, os.WriteFile(filepath.Join(containerDir, "0.log"), []byte(lines.String()), 0o644))

	grpcAddr := fmt.Sprintf("127.0.0.1:%d", backendtest.FreePort(t))
	httpAddr := fmt.Sprintf("127.0.0.1:%d", backendtest.FreePort(t))
	t.Setenv("SONDE_KUBECONFIG", os.Getenv("KUBECONFIG"))
	t.Setenv("NODE_NAME", "node-1")
	t.Setenv("SONDE_OTLP_GRPC_LISTEN", grpcAddr)
	t.Setenv("SONDE_OTLP_HTTP_LISTEN", httpAddr)
	s := newSonde(t, "--preset", "daemonset",
		"--otlp-endpoint", "http://"+tempo.OTLPGRPCEndpoint(),
		"--prometheus-url", prom.URL(),
		"--loki-url", deadLoki,
		"--log-dir", logDir)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	want := map[string]string{
		"service.name":        "checkout",
		"k8s.namespace.name":  "shop",
		"k8s.pod.name":        pod.Name,
		"k8s.pod.uid":         string(pod.UID),
		"k8s.node.name":       "node-1",
		"k8s.container.name":  "checkout",
		"k8s.deployment.name": "checkout",
	}
	for _, proto := range []oteltest.SDKProtocol{oteltest.SDKGRPC, oteltest.SDKHTTP} {
		addr := grpcAddr
		if proto == oteltest.SDKHTTP {
			addr = httpAddr
		}
		c, err := oteltest.NewSDKClient(ctx, proto, addr, "checkout", nil)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Shutdown(context.Background()) })
		// The agent's pod cache fills from its watch shortly after start; until then spans
		// pass without Kubernetes attributes. So: one trace per attempt until one arrives
		// enriched, then every later trace must be.
		require.Eventually(t, func() bool {
			id := c.Trace(ctx, "GET /api/items", 3)
			require.NoError(t, c.Flush(ctx), "sonde refused spans over %s", proto)
			td := oteltest.WaitTrace(t, tempo, id, 3)
			if !hasResourceAttrs(td, want) {
				t.Logf("trace %s over %s arrived with resource %v (pods in the cache: %v)", id, proto, resourceAttrs(td),
					s.metric(t, "sonde_otelcol_processor_k8sattributes_pods"))
				return false
			}
			return true
		}, 2*time.Minute, time.Second, "no trace sent over %s reached Tempo with %v", proto, want)
		id := c.Trace(ctx, "POST /api/checkout", 5)
		require.NoError(t, c.Flush(ctx))
		td := oteltest.WaitTrace(t, tempo, id, 5)
		require.True(t, hasResourceAttrs(td, want), "trace over %s: %v", proto, resourceAttrs(td))
	}

	// OTLP metrics reach Prometheus (translated by Prometheus' OTLP rules), and so do host metrics.
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	_, err = pmetricotlp.NewGRPCClient(conn).Export(ctx, pmetricotlp.NewExportRequestFromMetrics(oteltest.Metrics(nil)))
	require.NoError(t, err)
	for _, q := range []string{
		`http_server_request_duration_seconds_total{http_route="/api/items",job="sonde-test"}`,
		`sonde_build_info`, // scraped from prometheus.exporter.self, like the host metrics
	} {
		require.Eventually(t, func() bool {
			res, err := prom.Query(context.Background(), q)
			return err == nil && len(res) > 0
		}, 2*time.Minute, 500*time.Millisecond, "%s never reached Prometheus", q)
	}

	// Loki really was down and the log lines really were read: they wait, retried.
	require.Eventually(t, func() bool { return s.metric(t, "sonde_loki_write_retries_total") > 0 },
		time.Minute, 200*time.Millisecond, "loki.write never tried the dead Loki")
	require.Greater(t, s.metric(t, "sonde_loki_write_entries_received_total"), 0.0)
	require.Zero(t, s.metric(t, "sonde_loki_write_sent_entries_total"))
}

func ptrTrue() *bool { b := true; return &b }

// resourceAttrs returns the string resource attributes of every resource in td.
func resourceAttrs(td ptrace.Traces) []map[string]string {
	var out []map[string]string
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		m := map[string]string{}
		td.ResourceSpans().At(i).Resource().Attributes().Range(func(k string, v pcommon.Value) bool {
			m[k] = v.AsString()
			return true
		})
		out = append(out, m)
	}
	return out
}

// hasResourceAttrs says whether every resource of td has every attribute of want.
func hasResourceAttrs(td ptrace.Traces, want map[string]string) bool {
	res := resourceAttrs(td)
	for _, m := range res {
		for k, v := range want {
			if m[k] != v {
				return false
			}
		}
	}
	return len(res) > 0
}
