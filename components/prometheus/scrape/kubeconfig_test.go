package scrape

import (
	"os"
	"path/filepath"
	"testing"

	config_util "github.com/prometheus/common/config"
	"github.com/stretchr/testify/require"
)

func TestKubeconfigFile(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"ca.crt", "c.crt", "c.key"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), nil, 0o600))
	}
	kc := filepath.Join(dir, "kubeconfig")
	require.NoError(t, os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443", certificate-authority: ca.crt, tls-server-name: api}}]
users: [{name: u, user: {token: s3cret, client-certificate: c.crt, client-key: c.key}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600))

	a := DefaultArguments()
	a.StaticConfigs = []StaticConfig{{Targets: []string{"127.0.0.1:6443"}}}
	a.ForwardTo = []string{"x/y"}
	a.KubeconfigFile = kc
	require.NoError(t, a.Validate())
	sc, err := a.scrapeConfig("job")
	require.NoError(t, err)
	h := sc.HTTPClientConfig
	require.Equal(t, filepath.Join(dir, "ca.crt"), h.TLSConfig.CAFile, "relative to the kubeconfig")
	require.Equal(t, filepath.Join(dir, "c.crt"), h.TLSConfig.CertFile)
	require.Equal(t, filepath.Join(dir, "c.key"), h.TLSConfig.KeyFile)
	require.Equal(t, "api", h.TLSConfig.ServerName)
	require.Equal(t, &config_util.Authorization{Type: "Bearer", Credentials: "s3cret"}, h.Authorization)

	a.HTTPClientConfig.BearerTokenFile = "/token"
	require.ErrorContains(t, a.Validate(), "kubeconfig_file: cannot be combined")

	a = DefaultArguments()
	a.StaticConfigs, a.ForwardTo = []StaticConfig{{Targets: []string{"x:1"}}}, []string{"x/y"}
	a.KubeconfigFile = filepath.Join(dir, "missing")
	require.ErrorContains(t, a.Validate(), "kubeconfig_file: kubeconfig")
}
