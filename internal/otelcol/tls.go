package otelcol

import (
	"errors"
	"time"

	"github.com/prometheus/common/model"
	"go.opentelemetry.io/collector/config/configtls"

	"github.com/sondehq/sonde/pipeline"
)

// TLSServer is the TLS of a receiver endpoint.
type TLSServer struct {
	// CertFile is the server certificate (PEM); required.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the server certificate's private key (PEM); required.
	KeyFile string `yaml:"key_file"`
	// ClientCAFile, when set, makes client certificates signed by it mandatory (mTLS).
	ClientCAFile string `yaml:"client_ca_file,omitempty"`
	// MinVersion is "1.2" (default) or "1.3".
	MinVersion string `yaml:"min_version,omitempty"`
	// ReloadInterval re-reads the certificate files this often (0: never).
	ReloadInterval model.Duration `yaml:"reload_interval,omitempty"`
}

// Validate checks the settings; field paths are relative to the TLS block.
func (t *TLSServer) Validate() error {
	var errs []error
	if t.CertFile == "" {
		errs = append(errs, pipeline.Field("cert_file", "required"))
	}
	if t.KeyFile == "" {
		errs = append(errs, pipeline.Field("key_file", "required"))
	}
	errs = append(errs, validateTLSVersion(t.MinVersion))
	return errors.Join(errs...)
}

// Config returns the collector's form.
func (t *TLSServer) Config() configtls.ServerConfig {
	c := configtls.NewDefaultServerConfig()
	c.CertFile, c.KeyFile, c.ClientCAFile = t.CertFile, t.KeyFile, t.ClientCAFile
	c.MinVersion = t.MinVersion
	c.ReloadInterval = time.Duration(t.ReloadInterval)
	return c
}

// TLSClient is the TLS of an exporter's connection.
type TLSClient struct {
	// Insecure sends in plain text (gRPC; for HTTP the URL scheme decides).
	Insecure bool `yaml:"insecure,omitempty"`
	// CAFile verifies the server; the system roots when empty.
	CAFile string `yaml:"ca_file,omitempty"`
	// CertFile and KeyFile are the client certificate for mTLS.
	CertFile string `yaml:"cert_file,omitempty"`
	KeyFile  string `yaml:"key_file,omitempty"`
	// InsecureSkipVerify accepts any server certificate.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify,omitempty"`
	// ServerName overrides the name the certificate is checked against.
	ServerName string `yaml:"server_name,omitempty"`
	// MinVersion is "1.2" (default) or "1.3".
	MinVersion string `yaml:"min_version,omitempty"`
}

// Validate checks the settings; field paths are relative to the TLS block.
func (t *TLSClient) Validate() error {
	var errs []error
	if (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, pipeline.Field("cert_file", "cert_file and key_file go together"))
	}
	errs = append(errs, validateTLSVersion(t.MinVersion))
	return errors.Join(errs...)
}

// Config returns the collector's form.
func (t *TLSClient) Config() configtls.ClientConfig {
	c := configtls.NewDefaultClientConfig()
	c.Insecure, c.InsecureSkipVerify, c.ServerName = t.Insecure, t.InsecureSkipVerify, t.ServerName
	c.CAFile, c.CertFile, c.KeyFile, c.MinVersion = t.CAFile, t.CertFile, t.KeyFile, t.MinVersion
	return c
}

func validateTLSVersion(v string) error {
	switch v {
	case "", "1.2", "1.3":
		return nil
	}
	return pipeline.Field("min_version", "must be 1.2 or 1.3, got %q", v)
}
