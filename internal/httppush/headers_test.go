package httppush

import (
	"testing"

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
