package kubelet

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	config_util "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"

	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// fakeKubelet serves /pods over TLS to callers with the right bearer token.
type fakeKubelet struct {
	srv    *httptest.Server
	token  string
	mu     sync.Mutex
	pods   []*corev1.Pod
	status int // 0: 200
}

func newFakeKubelet(t *testing.T) *fakeKubelet {
	k := &fakeKubelet{token: "kubelet-reader-token"}
	k.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+k.token {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		if r.URL.Path != "/pods" {
			http.NotFound(w, r)
			return
		}
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.status != 0 {
			http.Error(w, "down", k.status)
			return
		}
		list := corev1.PodList{}
		list.Kind, list.APIVersion = "PodList", "v1"
		for _, p := range k.pods {
			list.Items = append(list.Items, *p)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(list)
	}))
	t.Cleanup(k.srv.Close)
	return k
}

func (k *fakeKubelet) set(status int, pods ...*corev1.Pod) {
	k.mu.Lock()
	k.status, k.pods = status, pods
	k.mu.Unlock()
}

// args returns arguments reaching k with a token file and its CA.
func (k *fakeKubelet) args(t *testing.T) *Arguments {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(k.token+"\n"), 0o600))
	caFile := filepath.Join(dir, "ca.crt")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.srv.Certificate().Raw}), 0o600))
	a := DefaultArguments()
	u, err := url.Parse(k.srv.URL)
	require.NoError(t, err)
	a.URL = config_util.URL{URL: u}
	a.RefreshInterval = model.Duration(50 * time.Millisecond)
	a.HTTPClientConfig.BearerTokenFile = tokenFile
	a.HTTPClientConfig.TLSConfig.CAFile = caFile
	return a
}

func addrs(ts pipeline.Targets) []string {
	var out []string
	for _, t := range ts {
		out = append(out, string(t[model.AddressLabel]))
	}
	return out
}

// waitPublished waits until the published addresses equal want.
func waitPublished(t *testing.T, host *pipelinetest.Host, id string, want ...string) pipeline.Targets {
	t.Helper()
	view := host.Targets([]string{id})
	defer view.Close()
	timeout := time.After(30 * time.Second)
	for {
		got := host.Published(id)
		if slices.Equal(addrs(got), want) && got != nil {
			return got
		}
		select {
		case <-view.Changed():
		case <-timeout:
			t.Fatalf("published %v, want %v", addrs(got), want)
		}
	}
}

func TestDiscovery(t *testing.T) {
	k := newFakeKubelet(t)
	pods := testPods()
	k.set(0, pods...)
	host := pipelinetest.NewHost()
	opts := pipelinetest.Options(t, "discovery.kubelet/test", host)
	c, err := New(opts, k.args(t))
	require.NoError(t, err)
	host.Export(opts.ID, c)
	stop := run(t, c)
	defer stop()

	ts := waitPublished(t, host, opts.ID, "10.0.0.8", "10.0.0.7:8080", "10.0.0.7:9090", "10.0.0.7", "10.0.0.7:1")
	require.Equal(t, model.LabelValue("web-1"), ts[1]["__meta_kubernetes_pod_name"])
	require.Equal(t, model.LabelValue("true"), ts[2]["__meta_sonde_pod_annotated_port_target"])

	// A failing kubelet keeps the previous targets and makes the component unhealthy.
	k.set(http.StatusInternalServerError)
	require.Eventually(t, func() bool { return opts.Health.Get().State == pipeline.HealthUnhealthy }, 30*time.Second, 10*time.Millisecond)
	require.Len(t, host.Published(opts.ID), 5)

	// Back, with a pod less.
	k.set(0, pods[0])
	waitPublished(t, host, opts.ID, "10.0.0.7:8080", "10.0.0.7:9090", "10.0.0.7", "10.0.0.7:1")
	require.Eventually(t, func() bool { return opts.Health.Get().State == pipeline.HealthHealthy }, 30*time.Second, 10*time.Millisecond)

	// Update: only namespace "other" (none there).
	a := k.args(t)
	a.Namespaces = []string{"other"}
	require.NoError(t, c.Update(a))
	require.Eventually(t, func() bool { return len(host.Published(opts.ID)) == 0 }, 30*time.Second, 10*time.Millisecond)
}

func TestWrongTokenIsUnhealthy(t *testing.T) {
	k := newFakeKubelet(t)
	a := k.args(t)
	require.NoError(t, os.WriteFile(a.HTTPClientConfig.BearerTokenFile, []byte("wrong"), 0o600))
	opts := pipelinetest.Options(t, "discovery.kubelet/test", pipelinetest.NewHost())
	c, err := New(opts, a)
	require.NoError(t, err)
	defer run(t, c)()
	require.Eventually(t, func() bool {
		st := opts.Health.Get()
		return st.State == pipeline.HealthUnhealthy && bytes.Contains([]byte(st.Message), []byte("401"))
	}, 30*time.Second, 10*time.Millisecond)
}

func TestMissingCAFailsNew(t *testing.T) {
	a := DefaultArguments()
	a.HTTPClientConfig.TLSConfig.CAFile = filepath.Join(t.TempDir(), "missing.crt")
	_, err := New(pipelinetest.Options(t, "discovery.kubelet/x", pipelinetest.NewHost()), a)
	var fe *pipeline.FieldError
	require.True(t, errors.As(err, &fe), "%v", err)
	require.Equal(t, "tls_config", fe.Field)
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		field string
	}{
		{name: "defaults", yaml: "{}"},
		{name: "daemonset", yaml: "url: https://10.0.0.5:10250\ntls_config: {insecure_skip_verify: true}\nrefresh_interval: 30s\n"},
		{name: "bad scheme", yaml: "url: ftp://x\n", field: "url"},
		{name: "no host", yaml: "url: https:///pods\n", field: "url"},
		{name: "zero interval", yaml: "refresh_interval: 0s\n", field: "refresh_interval"},
		{name: "bad namespace", yaml: "namespaces: [Nope]\n", field: "namespaces[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Registration.Args().(*Arguments)
			dec := yaml.NewDecoder(bytes.NewBufferString(tt.yaml))
			dec.KnownFields(true)
			require.NoError(t, dec.Decode(a))
			err := a.Validate()
			if tt.field == "" {
				require.NoError(t, err)
				return
			}
			var fe *pipeline.FieldError
			require.True(t, errors.As(err, &fe), "%v", err)
			require.Equal(t, tt.field, fe.Field)
		})
	}
}

func TestLifecycle(t *testing.T) {
	k := newFakeKubelet(t)
	k.set(0, testPods()...)
	updated := k.args(t)
	updated.Namespaces = []string{"shop"}
	pipelinetest.Lifecycle(t, Registration, k.args(t), updated)
}

// run runs c until the returned function is called.
func run(t *testing.T, c pipeline.Component) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Fatal("Run did not return")
		}
	}
}
