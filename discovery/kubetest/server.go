// Package kubetest starts a real etcd and kube-apiserver on 127.0.0.1 for tests, and helps
// them create cluster objects (nodes, pods with status, services, endpoints, RBAC) and
// credentials (an admin token, tokens of service accounts bound to a ClusterRole).
//
// The binaries come from `make deps`: etcd from the Debian package etcd-server (on PATH
// or $SONDE_ETCD), kube-apiserver from testdata/backends/kube-apiserver.sh
// ($SONDE_CACHE/bin/kube-apiserver-v1.37.2 or $SONDE_KUBE_APISERVER). A missing binary
// fails the test with "run make deps"; it never skips.
package kubetest

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/sondehq/sonde/exporters/backendtest"
)

// KubeAPIServerVersion is the kube-apiserver release the tests run against.
const KubeAPIServerVersion = "v1.37.2"

// AdminToken is the bearer token of the test cluster's administrator (group system:masters).
const AdminToken = "sonde-test-admin-token"

// Server is a running etcd + kube-apiserver pair.
type Server struct {
	// URL is the API server's address, https://127.0.0.1:PORT.
	URL string
	// CAFile is the PEM file of the CA that signed the API server's certificate.
	CAFile string
	// AuditLogPath is the API server's audit log (JSON lines, level Metadata for reads of
	// the resources sonde watches, and for every request to secrets and configmaps).
	AuditLogPath string
	// Dir holds the certificates, the token file and the audit policy and log.
	Dir string
	// Admin is a client with the admin token.
	Admin kubernetes.Interface

	etcd, apiserver backendtest.Process
	etcdDir         string
}

// Binaries returns the paths of etcd and kube-apiserver, or an error that says how to get
// them.
func Binaries() (etcd, apiserver string, err error) {
	etcd = os.Getenv("SONDE_ETCD")
	if etcd == "" {
		if p, lookErr := exec.LookPath("etcd"); lookErr == nil {
			etcd = p
		}
	}
	apiserver = os.Getenv("SONDE_KUBE_APISERVER")
	if apiserver == "" {
		cache := os.Getenv("SONDE_CACHE")
		if cache == "" {
			home, _ := os.UserHomeDir()
			cache = filepath.Join(home, ".cache", "sonde")
		}
		apiserver = filepath.Join(cache, "bin", "kube-apiserver-"+KubeAPIServerVersion)
	}
	var errs []error
	if etcd == "" {
		errs = append(errs, errors.New("etcd not found on PATH (Debian package etcd-server): run make deps"))
	}
	if st, statErr := os.Stat(apiserver); statErr != nil || st.IsDir() {
		errs = append(errs, fmt.Errorf("kube-apiserver not found at %s: run make deps", apiserver))
	}
	return etcd, apiserver, errors.Join(errs...)
}

var (
	sharedOnce sync.Once
	shared     *Server
	sharedErr  error
)

// Shared returns one server for the whole test binary, started on first use. Tests that
// share it must use their own namespaces and object names. Call Main from TestMain so that
// it is stopped at the end.
func Shared(t testing.TB) *Server {
	t.Helper()
	backendtest.SkipShort(t, "a kube-apiserver")
	sharedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sonde-kubetest-")
		if err != nil {
			sharedErr = err
			return
		}
		shared, sharedErr = start(dir)
		if sharedErr != nil {
			_ = os.RemoveAll(dir)
		}
	})
	if sharedErr != nil {
		t.Fatalf("start kube-apiserver: %v", sharedErr)
	}
	return shared
}

// Main runs the tests and then stops the shared server, if one was started:
//
//	func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	if shared != nil {
		shared.Stop()
		_ = os.RemoveAll(shared.Dir)
	}
	return code
}

// Start starts a server of the test's own, stopped when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	backendtest.SkipShort(t, "a kube-apiserver")
	s, err := start(t.TempDir())
	if err != nil {
		t.Fatalf("start kube-apiserver: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

func start(dir string) (_ *Server, err error) {
	etcdBin, apiBin, err := Binaries()
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, AuditLogPath: filepath.Join(dir, "audit.log")}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	c, err := writeCerts(dir)
	if err != nil {
		return nil, err
	}
	s.CAFile = c.CAFile
	tokens := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(AdminToken+`,admin,admin-uid,"system:masters"`+"\n"), 0o600); err != nil {
		return nil, err
	}
	policy := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		return nil, err
	}

	ports, err := backendtest.FreePorts(3)
	if err != nil {
		return nil, err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	// etcd's data lives on tmpfs where there is one: fsync on a busy disk makes the API
	// server slow enough to time tests out.
	s.etcdDir, err = os.MkdirTemp(tmpfs(dir), "sonde-etcd-")
	if err != nil {
		return nil, err
	}
	s.etcd = backendtest.Process{Name: "etcd", ReadyTimeout: 60 * time.Second}
	if err := s.etcd.Start(etcdBin, []string{
		"--name", "default",
		"--data-dir", s.etcdDir,
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "default=" + peerURL,
		"--log-level", "warn",
	}, nil, backendtest.HTTPOK(etcdURL+"/health")); err != nil {
		return nil, fmt.Errorf("etcd did not become healthy: %w\n%s", err, s.etcd.Output())
	}

	s.URL = "https://127.0.0.1:" + strconv.Itoa(ports[2])
	hc, err := httpClient(c.CAFile)
	if err != nil {
		return nil, err
	}
	s.apiserver = backendtest.Process{Name: "kube-apiserver", ReadyTimeout: 3 * time.Minute}
	if err := s.apiserver.Start(apiBin, []string{
		"--etcd-servers", etcdURL,
		"--bind-address", "127.0.0.1",
		"--advertise-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(ports[2]),
		// On loopback the API server refuses 127.0.0.1 as the kubernetes service endpoint.
		"--endpoint-reconciler-type", "none",
		"--tls-cert-file", c.CertFile, "--tls-private-key-file", c.KeyFile,
		"--client-ca-file", c.CAFile,
		"--token-auth-file", tokens,
		"--authorization-mode", "RBAC",
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--service-account-key-file", c.SAKeyFile,
		"--service-account-signing-key-file", c.SAKeyFile,
		"--service-cluster-ip-range", "10.96.0.0/16",
		// No controller-manager mints service-account tokens for pods.
		"--disable-admission-plugins", "ServiceAccount",
		"--audit-policy-file", policy,
		"--audit-log-path", s.AuditLogPath,
		"--audit-log-format", "json",
		"--cert-dir", filepath.Join(dir, "certs"),
	}, nil, func() bool { return getOK(hc, s.URL+"/readyz", AdminToken) == nil }); err != nil {
		return nil, fmt.Errorf("kube-apiserver did not become ready: %w\n%s", err, s.apiserver.Output())
	}
	s.Admin, err = kubernetes.NewForConfig(s.RestConfig(AdminToken))
	if err != nil {
		return nil, err
	}
	return s, nil
}

// auditPolicy records reads of the resources sonde discovers (so tests can check which
// list and watch requests were made, with which selectors) and every request for secrets
// and configmaps (which sonde must never get).
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  resources:
  - group: ""
    resources: [secrets, configmaps]
- level: Metadata
  verbs: [get, list, watch]
  resources:
  - group: ""
    resources: [pods, nodes, services, endpoints, namespaces]
  - group: discovery.k8s.io
    resources: [endpointslices]
- level: None
`

// Stop stops the API server, then etcd, and removes etcd's data. Safe to call twice.
func (s *Server) Stop() {
	s.apiserver.Stop(15 * time.Second)
	s.etcd.Stop(15 * time.Second)
	if s.etcdDir != "" {
		_ = os.RemoveAll(s.etcdDir)
		s.etcdDir = ""
	}
}

// RestConfig returns a client configuration for the API server with the given bearer token.
func (s *Server) RestConfig(token string) *rest.Config {
	return &rest.Config{
		Host:            s.URL,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAFile: s.CAFile},
		QPS:             -1,                // no client-side throttling in tests
		WarningHandler:  rest.NoWarnings{}, // "v1 Endpoints is deprecated" on every create
	}
}

// Client returns a clientset with the given token.
func (s *Server) Client(t testing.TB, token string) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(s.RestConfig(token))
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	return c
}

// AuditEvent is the part of an audit.k8s.io/v1 Event the tests look at.
type AuditEvent struct {
	Stage      string `json:"stage"`
	Verb       string `json:"verb"`
	RequestURI string `json:"requestURI"`
	UserAgent  string `json:"userAgent"`
	User       struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef *struct {
		Resource  string `json:"resource"`
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
}

// Resource returns the audited request's resource, or "".
func (e AuditEvent) Resource() string {
	if e.ObjectRef == nil {
		return ""
	}
	return e.ObjectRef.Resource
}

// AuditEvents returns the audit log's events so far whose user is username ("" for all).
func (s *Server) AuditEvents(t testing.TB, username string) []AuditEvent {
	t.Helper()
	f, err := os.Open(s.AuditLogPath)
	if err != nil {
		t.Fatalf("audit log: %v", err)
	}
	defer f.Close()
	var out []AuditEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e AuditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			continue // a line being written
		}
		if username == "" || e.User.Username == username {
			out = append(out, e)
		}
	}
	return out
}

func httpClient(caFile string) (*http.Client, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("no certificate in " + caFile)
	}
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}, nil
}

func getOK(c *http.Client, url, token string) error {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// tmpfs returns /dev/shm when it is a writable directory, else fallback.
func tmpfs(fallback string) string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if f, err := os.CreateTemp("/dev/shm", "sonde-probe-"); err == nil {
			f.Close()
			os.Remove(f.Name())
			return "/dev/shm"
		}
	}
	return fallback
}

// Unique returns a DNS-1123 name made of prefix and a counter unique in this process, so
// tests sharing a server do not collide.
func Unique(prefix string) string {
	uniqueMu.Lock()
	defer uniqueMu.Unlock()
	uniqueN++
	return strings.ToLower(fmt.Sprintf("%s-%d", prefix, uniqueN))
}

var (
	uniqueMu sync.Mutex
	uniqueN  int
)
