package docgen

import (
	"reflect"

	"github.com/alecthomas/units"
	"github.com/prometheus/common/config"
	"github.com/prometheus/prometheus/model/relabel"

	sondeunits "github.com/sondehq/sonde/internal/units"
)

// note describes a type from another module, whose source is not read: what it is called
// in the docs, where it is documented, and (for a struct written inline) what each of its
// keys does. Hand-written on purpose and kept small: a type used by a component that has
// no note here is reported as undocumented.
type note struct {
	name   string                       // how a value is written ("size", "URL"); "" for an object
	link   string                       // its upstream documentation
	keys   map[string]string            // an inline struct's keys and what each does
	format func(v reflect.Value) string // writes a default; nil: the usual formatting
}

const promHTTPConfig = "https://prometheus.io/docs/prometheus/latest/configuration/configuration/#http_config"

var notes = map[reflect.Type]note{
	reflect.TypeFor[config.HTTPClientConfig](): {link: promHTTPConfig, keys: map[string]string{
		"basic_auth":        "HTTP basic authentication: `username` (or `username_file`) and `password` (or `password_file`).",
		"authorization":     "The Authorization header: `type` (default Bearer) and `credentials` or `credentials_file`.",
		"oauth2":            "OAuth 2.0 client credentials: `client_id`, `client_secret` (or `client_secret_file`), `token_url`, `scopes`, `endpoint_params`.",
		"bearer_token":      "A bearer token sent in the Authorization header (prefer `authorization` or `bearer_token_file`).",
		"bearer_token_file": "A file holding a bearer token, read again for every request (a rotated service-account token keeps working).",
		"tls_config":        "TLS settings: `ca_file`, `cert_file`, `key_file`, `server_name`, `insecure_skip_verify`, `min_version`.",
		"follow_redirects":  "Whether HTTP 3xx redirects are followed.",
		"enable_http2":      "Whether HTTP/2 is used when the server offers it.",
		"http_headers":      "Extra headers sent with every request: name → `values`, `secrets` or `files`.",
	}},
	reflect.TypeFor[config.ProxyConfig](): {link: promHTTPConfig, keys: map[string]string{
		"proxy_url":              "An HTTP proxy to send requests through.",
		"no_proxy":               "Comma-separated hosts, domains and networks reached without the proxy.",
		"proxy_from_environment": "Take the proxy from HTTP_PROXY, HTTPS_PROXY and NO_PROXY.",
		"proxy_connect_header":   "Headers sent to the proxy with CONNECT requests: name → list of values.",
	}},
	reflect.TypeFor[relabel.Config](): {name: "relabel rule",
		link: "https://prometheus.io/docs/prometheus/latest/configuration/configuration/#relabel_config"},
	reflect.TypeFor[config.URL](): {name: "URL", format: func(v reflect.Value) string {
		if u := v.Interface().(config.URL); u.URL != nil {
			return u.Redacted()
		}
		return ""
	}},
	reflect.TypeFor[config.Secret]():       {name: "secret"},
	reflect.TypeFor[units.Base2Bytes]():    {name: "size"},
	reflect.TypeFor[sondeunits.ByteSize](): {name: "size"},
}
