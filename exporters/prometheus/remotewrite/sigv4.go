package remotewrite

import (
	"errors"
	"net/http"
	"strings"

	"github.com/prometheus/common/config"
	"github.com/prometheus/sigv4"

	"github.com/sondehq/sonde/pipeline"
)

// SigV4Config signs requests with AWS Signature Version 4, as Prometheus' remote_write
// sigv4 block (github.com/prometheus/sigv4 signs them). Credentials not given here come from
// the AWS default chain: environment, shared files, the instance or pod role.
type SigV4Config struct {
	// Region is the AWS region, e.g. eu-west-1; default: the region of the AWS default chain.
	Region string `yaml:"region,omitempty"`
	// AccessKey is the AWS access key ID; with secret_key, it replaces the default chain.
	AccessKey string `yaml:"access_key,omitempty"`
	// SecretKey is the AWS secret access key that goes with access_key.
	SecretKey config.Secret `yaml:"secret_key,omitempty"`
	// Profile is the named profile of the AWS shared configuration files to use.
	Profile string `yaml:"profile,omitempty"`
	// RoleARN is a role to assume (AWS STS) with the credentials found.
	RoleARN string `yaml:"role_arn,omitempty"`
}

// Validate checks the SigV4 settings; field paths are relative to "sigv4".
func (c *SigV4Config) Validate() error {
	if (c.AccessKey == "") != (c.SecretKey == "") {
		return pipeline.Field("access_key", "access_key and secret_key go together: give both or neither")
	}
	return nil
}

// otherAuth names the authentication of the HTTP client settings, "" when there is none:
// SigV4 signs the request itself and cannot go with another.
func (e *EndpointConfig) otherAuth() string {
	h := &e.HTTPClientConfig
	var set []string
	if h.BasicAuth != nil {
		set = append(set, "basic_auth")
	}
	if h.Authorization != nil {
		set = append(set, "authorization")
	}
	if h.BearerToken != "" || h.BearerTokenFile != "" {
		set = append(set, "bearer_token")
	}
	if h.OAuth2 != nil {
		set = append(set, "oauth2")
	}
	return strings.Join(set, ", ")
}

// wrapTransport returns the httppush transport wrapper that signs requests, nil without
// sigv4.
func (c *SigV4Config) wrapTransport() func(http.RoundTripper) (http.RoundTripper, error) {
	if c == nil {
		return nil
	}
	cfg := &sigv4.SigV4Config{Region: c.Region, AccessKey: c.AccessKey, SecretKey: c.SecretKey, Profile: c.Profile, RoleARN: c.RoleARN}
	return func(next http.RoundTripper) (http.RoundTripper, error) {
		rt, err := sigv4.NewSigV4RoundTripper(cfg, next)
		if err != nil {
			return nil, errors.Join(errors.New("sigv4"), err)
		}
		return rt, nil
	}
}
