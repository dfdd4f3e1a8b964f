package httppush

import (
	"errors"
	"net/http"
	"slices"

	"github.com/prometheus/common/config"
	"golang.org/x/net/http/httpguts"

	"github.com/sondehq/sonde/pipeline"
)

// clientHeaders are set on every request, not by the user: by the Client (Content-Type,
// Content-Encoding, User-Agent), by Go's transport (Content-Length, Host) or by the
// authentication settings (Authorization).
var clientHeaders = []string{"Authorization", "Content-Encoding", "Content-Length", "Content-Type", "Host", "User-Agent"}

// ValidateHeaders checks an endpoint's extra headers (Config.Headers) as the user wrote
// them: each name must be a valid header name and neither one the client sets nor one of
// protocol (the headers the exporter's protocol sets, such as X-Scope-OrgID; any case), and
// each value a valid header value. The errors are pipeline.Field("headers.<name>", …),
// joined; hint, when not empty, follows the message for a name that is set by sonde, in
// parentheses (where the user sets that header instead).
func ValidateHeaders(headers map[string]string, protocol []string, hint string) error {
	reserved := map[string]bool{}
	for _, name := range slices.Concat(clientHeaders, protocol) {
		reserved[http.CanonicalHeaderKey(name)] = true
	}
	setBySonde := "header is set by sonde and cannot be configured"
	if hint != "" {
		setBySonde += " (" + hint + ")"
	}
	var errs []error
	for name, value := range headers {
		switch {
		case !httpguts.ValidHeaderFieldName(name):
			errs = append(errs, pipeline.Field("headers."+name, "invalid header name"))
		case reserved[http.CanonicalHeaderKey(name)]:
			errs = append(errs, pipeline.Field("headers."+name, "%s", setBySonde))
		case !httpguts.ValidHeaderFieldValue(value):
			errs = append(errs, pipeline.Field("headers."+name, "invalid header value"))
		}
	}
	return errors.Join(errs...)
}

// ValidateURL checks an endpoint's URL as the user wrote it: required, absolute http or
// https, with a host. The error is pipeline.Field("url", …), quoting the URL without its
// password.
func ValidateURL(u config.URL) error {
	switch {
	case u.URL == nil || u.String() == "":
		return pipeline.Field("url", "required")
	case u.Scheme != "http" && u.Scheme != "https":
		return pipeline.Field("url", "%q must be an absolute http or https URL", u.Redacted())
	case u.Host == "":
		return pipeline.Field("url", "%q has no host", u.Redacted())
	}
	return nil
}
