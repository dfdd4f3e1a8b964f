package scrape

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	config_util "github.com/prometheus/common/config"
	"k8s.io/client-go/tools/clientcmd"
)

// ExpandHome replaces a leading "~/" of path with the user's home directory.
func ExpandHome(path string) string {
	if path == "~" || strings.HasPrefix(path, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, path[1:])
		}
	}
	return path
}

// kubeconfigHTTPClient fills an HTTP client configuration with the credentials of a
// kubeconfig's current context: its CA, client certificate and key, bearer token (or token
// file) or basic auth. That is what scraping through the API server's proxy
// (/api/v1/nodes/<node>/proxy/..., /api/v1/namespaces/<ns>/pods/<pod>:<port>/proxy/...)
// needs from a laptop. Exec and auth-provider plugins are not supported: Prometheus' HTTP
// client cannot run them (client-go's transport could, but the scrape manager builds its
// own client from this configuration).
func kubeconfigHTTPClient(path string, base config_util.HTTPClientConfig) (config_util.HTTPClientConfig, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", ExpandHome(path))
	if err != nil {
		return base, fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	if cfg.ExecProvider != nil || cfg.AuthProvider != nil {
		return base, fmt.Errorf("kubeconfig %s: exec and auth-provider credentials are not supported for scraping; use a client certificate or token", path)
	}
	tc := cfg.TLSClientConfig
	out := base
	out.TLSConfig = config_util.TLSConfig{
		CA: string(tc.CAData), CAFile: tc.CAFile,
		Cert: string(tc.CertData), CertFile: tc.CertFile,
		Key: config_util.Secret(tc.KeyData), KeyFile: tc.KeyFile,
		ServerName:         tc.ServerName,
		InsecureSkipVerify: tc.Insecure,
	}
	switch {
	case cfg.BearerToken != "":
		out.Authorization = &config_util.Authorization{Type: "Bearer", Credentials: config_util.Secret(cfg.BearerToken)}
	case cfg.BearerTokenFile != "":
		out.Authorization = &config_util.Authorization{Type: "Bearer", CredentialsFile: cfg.BearerTokenFile}
	case cfg.Username != "":
		out.BasicAuth = &config_util.BasicAuth{Username: cfg.Username, Password: config_util.Secret(cfg.Password)}
	}
	return out, nil
}
