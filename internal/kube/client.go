package kube

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"strings"

	config_util "github.com/prometheus/common/config"
	kubeclient "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// ServiceAccountDir is where Kubernetes mounts a pod's service-account token, CA and
// namespace.
const ServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// UserAgent is what sonde's API clients send as User-Agent.
var UserAgent = "sonde"

// ClientArgs say how to reach the API server, as in Prometheus' kubernetes_sd_config: a
// kubeconfig file, or an api_server URL with Prometheus' HTTP client settings written
// inline (bearer_token_file, tls_config, ...), or, with neither, the in-cluster service
// account. Components that talk to the API server embed it inline.
type ClientArgs struct {
	// KubeconfigFile is a kubeconfig to use (its current context).
	KubeconfigFile string `yaml:"kubeconfig_file"`
	// APIServer is the API server's URL; the HTTP client settings below apply to it.
	APIServer config_util.URL `yaml:"api_server"`
	// HTTPClientConfig is Prometheus' HTTP client configuration, inline; only with api_server.
	HTTPClientConfig config_util.HTTPClientConfig `yaml:",inline"`
}

// DefaultClientArgs are ClientArgs with their defaults: in-cluster.
func DefaultClientArgs() ClientArgs {
	return ClientArgs{HTTPClientConfig: config_util.DefaultHTTPClientConfig}
}

// FieldFunc builds the error for one field of the arguments, formatted like fmt.Errorf;
// components pass pipeline.Field (this package cannot import pipeline, which imports it for
// pipeline.Options.Kube).
type FieldFunc func(field, format string, a ...any) error

// Validate checks the combination of settings, as Prometheus does; field builds each error.
func (c *ClientArgs) Validate(field FieldFunc) error {
	custom := !reflect.DeepEqual(c.HTTPClientConfig, config_util.DefaultHTTPClientConfig)
	switch {
	case c.APIServer.URL != nil && c.KubeconfigFile != "":
		return field("kubeconfig_file", "cannot be used together with api_server")
	case c.KubeconfigFile != "" && custom:
		return field("kubeconfig_file", "cannot be used with HTTP client settings (they need api_server)")
	case c.APIServer.URL == nil && custom:
		return field("api_server", "required with HTTP client settings (bearer_token_file, tls_config, ...)")
	}
	if c.APIServer.URL != nil {
		if s := c.APIServer.Scheme; s != "http" && s != "https" {
			return field("api_server", "scheme must be http or https, got %q", s)
		}
	}
	if err := c.HTTPClientConfig.Validate(); err != nil {
		return field("tls_config", "%w", err)
	}
	return nil
}

// Mode names how the client connects: "kubeconfig", "api_server" or "in-cluster".
func (c *ClientArgs) Mode() string {
	switch {
	case c.KubeconfigFile != "":
		return "kubeconfig"
	case c.APIServer.URL != nil:
		return "api_server"
	default:
		return "in-cluster"
	}
}

// InCluster reports whether this process runs in a pod with a service account (the
// in-cluster environment variables and token are present).
func InCluster() bool {
	if os.Getenv("KUBERNETES_SERVICE_HOST") == "" || os.Getenv("KUBERNETES_SERVICE_PORT") == "" {
		return false
	}
	_, err := os.Stat(ServiceAccountDir + "/token")
	return err == nil
}

// OwnNamespace returns the namespace of this pod: $POD_NAMESPACE, else the service
// account's namespace file.
func OwnNamespace() (string, error) {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns, nil
	}
	b, err := os.ReadFile(ServiceAccountDir + "/namespace")
	if err != nil {
		return "", fmt.Errorf("own namespace: set POD_NAMESPACE or run in a pod: %w", err)
	}
	ns := strings.TrimSpace(string(b))
	if ns == "" {
		return "", errors.New("own namespace: the service account's namespace file is empty")
	}
	return ns, nil
}

// RestConfig builds the client-go configuration. The transport is never one of
// client-go's process-wide cached ones: the cache closes its connections when the last
// user releases the client.
func (c *ClientArgs) RestConfig() (*rest.Config, error) {
	var (
		cfg *rest.Config
		err error
	)
	switch c.Mode() {
	case "kubeconfig":
		cfg, err = clientcmd.BuildConfigFromFlags("", c.KubeconfigFile)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig %s: %w", c.KubeconfigFile, err)
		}
	case "api_server":
		rt, err := config_util.NewRoundTripperFromConfig(c.HTTPClientConfig, "sonde_kubernetes")
		if err != nil {
			return nil, fmt.Errorf("api_server client: %w", err)
		}
		cfg = &rest.Config{Host: c.APIServer.String(), Transport: rt}
	default:
		cfg, err = rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster config (set kubeconfig_file or api_server when running outside a pod): %w", err)
		}
	}
	if cfg.Transport == nil && cfg.Proxy == nil {
		// A Proxy function makes client-go build a transport of this client's own instead of
		// sharing a cached one for the life of the process.
		cfg.Proxy = http.ProxyFromEnvironment
	}
	cfg.UserAgent = UserAgent
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	return cfg, nil
}

// newClientset builds a clientset and the HTTP client under it (to close its connections).
func newClientset(cfg *rest.Config) (kubeclient.Interface, *http.Client, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, nil, err
	}
	cs, err := kubeclient.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, nil, err
	}
	return cs, hc, nil
}
