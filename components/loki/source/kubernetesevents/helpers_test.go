package kubernetesevents

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	config_util "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sondehq/sonde/discovery/kubetest"
	"github.com/sondehq/sonde/internal/kube"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

func init() {
	batchWait = 20 * time.Millisecond
	retryMin, retryMax = 50*time.Millisecond, 200*time.Millisecond
	healthInterval = 20 * time.Millisecond
}

// rbacFile is the RBAC the DaemonSet is deployed with: the agents run as its ServiceAccount
// sonde/sonde, and their Lease is in the namespace sonde.
const rbacFile = "../../../../deploy/rbac/rbac.yaml"

var rbacOnce sync.Once

// sondeToken returns a token of the ServiceAccount of deploy/rbac (applied once).
func sondeToken(t *testing.T, s *kubetest.Server) string {
	t.Helper()
	rbacOnce.Do(func() { s.ApplyFile(t, rbacFile) })
	return s.Token(t, "sonde", "sonde")
}

// clientArgs reaches the API server at u (the server itself, or a proxy in front of it)
// with token.
func clientArgs(s *kubetest.Server, u, token string) kube.ClientArgs {
	pu, err := url.Parse(u)
	if err != nil {
		panic(err)
	}
	c := kube.DefaultClientArgs()
	c.APIServer = config_util.URL{URL: pu}
	c.HTTPClientConfig.BearerToken = config_util.Secret(token)
	if pu.Scheme == "https" {
		c.HTTPClientConfig.TLSConfig.CAFile = s.CAFile
	}
	return c
}

// nsArgs makes a namespace named after prefix and returns arguments that forward its
// events, with the Lease in it, as the API server's administrator.
func nsArgs(t *testing.T, s *kubetest.Server, prefix string) (*Arguments, string) {
	t.Helper()
	ns := kubetest.Unique(prefix)
	s.CreateNamespace(t, ns)
	args := DefaultArguments()
	args.Namespaces = []string{ns}
	args.ForwardTo = []string{"loki.write/test"}
	args.LeaderElection.LeaseNamespace = ns
	args.ClientArgs = clientArgs(s, s.URL, kubetest.AdminToken)
	return args, ns
}

// agent is one sonde agent's component under test.
type agent struct {
	c    *Component
	host *pipelinetest.Host
	opts pipeline.Options
	stop func()
}

// startAgent runs a component named identity with its own host and client cache.
func startAgent(t *testing.T, identity string, args *Arguments) *agent {
	t.Helper()
	return startAgentOn(t, pipelinetest.NewHost(), identity, args)
}

// startAgentOn runs a component named identity on host, with its own client cache.
func startAgentOn(t *testing.T, host *pipelinetest.Host, identity string, args *Arguments) *agent {
	t.Helper()
	a := *args
	a.LeaderElection.Identity = identity
	require.NoError(t, a.Validate())
	opts := pipelinetest.Options(t, "loki.source.kubernetes_events/cluster", host)
	c, err := New(opts, &a)
	require.NoError(t, err)
	c.flushTimeout = 5 * time.Second
	return &agent{c: c, host: host, opts: opts, stop: pipelinetest.Run(t, c)}
}

func (a *agent) leading() bool { return a.c.current.Load() != nil }

// lines returns the lines received, in order.
func (a *agent) lines() []string {
	var out []string
	for _, e := range a.host.LogsSink.Entries() {
		out = append(out, e.Line)
	}
	return out
}

// entry returns the entry whose line has msg="<msg>", and how many there are.
func (a *agent) entry(msg string) (pipeline.LogEntry, int) {
	var (
		found pipeline.LogEntry
		n     int
	)
	for _, e := range a.host.LogsSink.Entries() {
		if strings.Contains(e.Line, fmt.Sprintf("msg=%q", msg)) {
			found, n = e, n+1
		}
	}
	return found, n
}

// waitLeader waits until exactly one of agents leads and returns it.
func waitLeader(t *testing.T, agents ...*agent) *agent {
	t.Helper()
	var leader *agent
	require.Eventually(t, func() bool {
		leader = nil
		n := 0
		for _, a := range agents {
			if a.leading() {
				leader, n = a, n+1
			}
		}
		return n == 1
	}, time.Minute, 10*time.Millisecond, "one leader")
	return leader
}

// createEvent creates an event about pod <name> in ns, last seen at at, with message msg.
func createEvent(t *testing.T, s *kubetest.Server, ns, name, msg string, at time.Time) *corev1.Event {
	t.Helper()
	ev, err := s.Admin.CoreV1().Events(ns).Create(context.Background(), &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: name + ".", Namespace: ns},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: name, APIVersion: "v1"},
		Reason:         "Started",
		Message:        msg,
		Source:         corev1.EventSource{Component: "kubelet", Host: "node-1"},
		FirstTimestamp: metav1.NewTime(at),
		LastTimestamp:  metav1.NewTime(at),
		Count:          1,
		Type:           corev1.EventTypeNormal,
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	return ev
}

// leaseMark returns the delivered mark the Lease carries (zero without one or without the
// Lease).
func leaseMark(t *testing.T, s *kubetest.Server, ns, name string) time.Time {
	t.Helper()
	l, err := s.Admin.CoordinationV1().Leases(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return time.Time{}
	}
	require.NoError(t, err)
	return readMark(l)
}

// faultProxy is a plain-HTTP reverse proxy in front of the API server that can cut an agent
// off: Cut ends the requests under way (watches included) and answers every new one 503,
// as a partition or a frozen agent looks to the API server (its Lease is no longer renewed).
type faultProxy struct {
	URL string

	mu     sync.Mutex
	cut    bool
	ctx    context.Context
	cancel context.CancelFunc
}

func newFaultProxy(t *testing.T, s *kubetest.Server) *faultProxy {
	t.Helper()
	target, err := url.Parse(s.URL)
	require.NoError(t, err)
	pem, err := os.ReadFile(s.CAFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	rp.FlushInterval = -1
	p := &faultProxy{}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		cut, pctx := p.cut, p.ctx
		p.mu.Unlock()
		if cut {
			http.Error(w, "cut off", http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		stop := context.AfterFunc(pctx, cancel)
		defer stop()
		rp.ServeHTTP(w, r.WithContext(ctx))
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(p.cancel)
	p.URL = srv.URL
	return p
}

// Cut cuts the agent off the API server.
func (p *faultProxy) Cut() {
	p.mu.Lock()
	p.cut = true
	p.mu.Unlock()
	p.cancel()
}

// labelsOf is the stream labels of the events of namespace ns.
func labelsOf(ns string) model.LabelSet {
	return labelsFor(DefaultJobName, "loki.source.kubernetes_events/cluster", ns)
}
