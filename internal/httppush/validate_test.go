package httppush

import (
	"net/url"
	"testing"

	"github.com/prometheus/common/config"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// TestValidateHeaders: invalid names and values are refused, and so are the headers the
// client or the protocol sets, in any case; the hint follows the message for those.
func TestValidateHeaders(t *testing.T) {
	protocol := []string{"X-Scope-OrgID"}
	require.NoError(t, ValidateHeaders(nil, protocol, ""))
	require.NoError(t, ValidateHeaders(map[string]string{"X-Team": "a", "x-env": "prod"}, protocol, ""))

	for _, tc := range []struct{ name, header, value, want string }{
		{"invalid name", "bad header", "x", "headers.bad header: invalid header name"},
		{"invalid value", "X-Team", "a\nb", "headers.X-Team: invalid header value"},
		{"set by the client", "user-agent", "curl", "headers.user-agent: header is set by sonde and cannot be configured (use x)"},
		{"set by Go", "Content-Length", "1", "headers.Content-Length: header is set by sonde and cannot be configured (use x)"},
		{"authentication", "AUTHORIZATION", "Bearer t", "headers.AUTHORIZATION: header is set by sonde and cannot be configured (use x)"},
		{"set by the protocol", "x-scope-orgid", "t", "headers.x-scope-orgid: header is set by sonde and cannot be configured (use x)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateHeaders(map[string]string{tc.header: tc.value}, protocol, "use x")
			require.EqualError(t, err, tc.want)
			require.Equal(t, []string{"headers." + tc.header}, pipelinetest.FieldsOf(err))
		})
	}
	require.EqualError(t, ValidateHeaders(map[string]string{"Host": "h"}, nil, ""),
		"headers.Host: header is set by sonde and cannot be configured", "no hint: no parentheses")
	require.NoError(t, ValidateHeaders(map[string]string{"X-Scope-OrgID": "t"}, nil, ""), "reserved only by a protocol that sets it")
	require.Len(t, pipelinetest.FieldsOf(ValidateHeaders(map[string]string{"Host": "h", "bad name": "x", "Ok": "y"}, nil, "")), 2)
}

// TestValidateURL: an endpoint URL is required, absolute http(s) with a host, and quoted in
// the error without its password.
func TestValidateURL(t *testing.T) {
	parse := func(s string) config.URL {
		u, err := url.Parse(s)
		require.NoError(t, err)
		return config.URL{URL: u}
	}
	require.NoError(t, ValidateURL(parse("http://loki:3100/loki/api/v1/push")))
	require.NoError(t, ValidateURL(parse("https://u:p@prometheus/api/v1/write")))
	require.EqualError(t, ValidateURL(config.URL{}), "url: required")
	require.EqualError(t, ValidateURL(parse("")), "url: required")
	require.EqualError(t, ValidateURL(parse("loki:3100/push")), `url: "loki:3100/push" must be an absolute http or https URL`)
	require.EqualError(t, ValidateURL(parse("ftp://u:hunter2@h/p")), `url: "ftp://u:xxxxx@h/p" must be an absolute http or https URL`)
	require.EqualError(t, ValidateURL(parse("http:///push")), `url: "http:///push" has no host`)
}
