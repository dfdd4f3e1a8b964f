package scrape

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	config_util "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubeclient "k8s.io/client-go/kubernetes"

	"github.com/sondehq/sonde/components/prometheus/operator/internal/monitor"
	"github.com/sondehq/sonde/internal/targets"
	"github.com/sondehq/sonde/pipeline"
)

// jobLabel is the operator's job name label the monitors components set on every target
// (serviceMonitor/<ns>/<name>/<i>, podMonitor/…, probe/<ns>/<name>).
const jobLabel model.LabelName = "__tmp_prometheus_job_name"

// plan is the scrape jobs for one target snapshot.
type plan struct {
	configs []*config.ScrapeConfig
	groups  map[string][]*targetgroup.Group
	// failed maps a job to why it is not scraped (a Secret that cannot be read, a setting
	// Prometheus rejects).
	failed map[string]string
	// fingerprint changes when the configs do (secret values included, hashed).
	fingerprint string
}

// build groups the targets by operator job and makes each job's scrape config, with the
// Secrets and ConfigMaps its settings reference read through r.
func build(r *reader, args *Arguments, in pipeline.Targets) plan {
	byJob := map[string]pipeline.Targets{}
	for _, t := range in {
		job := string(cmp.Or(t[jobLabel], t[model.JobLabel]))
		byJob[job] = append(byJob[job], t)
	}
	p := plan{groups: map[string][]*targetgroup.Group{}, failed: map[string]string{}}
	r.values = map[string]string{}
	h := sha256.New()
	for _, job := range slices.Sorted(maps.Keys(byJob)) {
		ts := byJob[job]
		first := ts[0]
		sc, err := scrapeConfig(args, job, first, r)
		if err != nil {
			p.failed[job] = err.Error()
			continue
		}
		p.configs = append(p.configs, sc)
		p.groups[job] = []*targetgroup.Group{targets.ToGroup("targets", ts)}
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00", job, first[monitor.SettingsLabel], first[monitor.HonorLabelsLabel])
	}
	for _, k := range slices.Sorted(maps.Keys(r.values)) {
		fmt.Fprintf(h, "%s\x00%s\x00", k, r.values[k])
	}
	p.fingerprint = hex.EncodeToString(h.Sum(nil))
	return p
}

// scrapeConfig is the Prometheus scrape config of one operator job, with the defaults
// Prometheus' loader would fill, and its settings (from the first target: they are the
// same on every target of a job).
func scrapeConfig(args *Arguments, job string, t model.LabelSet, r *reader) (*config.ScrapeConfig, error) {
	off := false
	sc := &config.ScrapeConfig{
		JobName:                        job,
		HonorLabels:                    t[monitor.HonorLabelsLabel] == "true",
		HonorTimestamps:                true,
		ScrapeInterval:                 args.ScrapeInterval,
		ScrapeTimeout:                  args.timeout(),
		ScrapeProtocols:                config.DefaultScrapeProtocols,
		ScrapeFallbackProtocol:         config.PrometheusText0_0_4,
		ScrapeNativeHistograms:         &off,
		AlwaysScrapeClassicHistograms:  &off,
		ConvertClassicHistogramsToNHCB: &off,
		ExtraScrapeMetrics:             &off,
		MetricsPath:                    "/metrics",
		Scheme:                         "http",
		EnableCompression:              true,
		BodySizeLimit:                  args.BodySizeLimit,
		MetricNameValidationScheme:     model.UTF8Validation,
		MetricNameEscapingScheme:       model.AllowUTF8,
		HTTPClientConfig:               config_util.DefaultHTTPClientConfig,
	}
	if v, ok := t[monitor.SettingsLabel]; ok {
		s, err := monitor.ParseSettings(v)
		if err != nil {
			return nil, err
		}
		if sc.MetricRelabelConfigs, err = s.MetricRelabelConfigs(); err != nil {
			return nil, err
		}
		if err := httpClientConfig(&sc.HTTPClientConfig, s, r); err != nil {
			return nil, err
		}
	}
	if err := sc.Validate(globalConfig(args)); err != nil {
		return nil, err
	}
	return sc, nil
}

func globalConfig(args *Arguments) config.GlobalConfig {
	g := config.DefaultGlobalConfig
	g.ScrapeInterval = args.ScrapeInterval
	g.ScrapeTimeout = args.timeout()
	return g
}

// httpClientConfig sets the TLS and credentials of s, read from the API server, as the
// operator writes them into its Prometheus' config.
func httpClientConfig(hc *config_util.HTTPClientConfig, s *monitor.Settings, r *reader) error {
	ns := s.Namespace
	if t := s.TLSConfig; t != nil {
		var err error
		if hc.TLSConfig.CA, err = r.secretOrConfigMap(ns, t.CA, "tlsConfig.ca"); err != nil {
			return err
		}
		if hc.TLSConfig.Cert, err = r.secretOrConfigMap(ns, t.Cert, "tlsConfig.cert"); err != nil {
			return err
		}
		key, err := r.secret(ns, t.KeySecret, "tlsConfig.keySecret")
		if err != nil {
			return err
		}
		hc.TLSConfig.Key = config_util.Secret(key)
		hc.TLSConfig.ServerName = t.ServerName
		hc.TLSConfig.InsecureSkipVerify = t.InsecureSkipVerify
		for field, v := range map[string]string{"minVersion": t.MinVersion, "maxVersion": t.MaxVersion} {
			if v == "" {
				continue
			}
			tv, ok := config_util.TLSVersions[v]
			if !ok {
				return fmt.Errorf("tlsConfig.%s: unknown TLS version %q", field, v)
			}
			if field == "minVersion" {
				hc.TLSConfig.MinVersion = tv
			} else {
				hc.TLSConfig.MaxVersion = tv
			}
		}
	}
	if b := s.BasicAuth; b != nil {
		user, err := r.secret(ns, &b.Username, "basicAuth.username")
		if err != nil {
			return err
		}
		pass, err := r.secret(ns, &b.Password, "basicAuth.password")
		if err != nil {
			return err
		}
		hc.BasicAuth = &config_util.BasicAuth{Username: user, Password: config_util.Secret(pass)}
	}
	if s.BearerTokenSecret != nil {
		tok, err := r.secret(ns, s.BearerTokenSecret, "bearerTokenSecret")
		if err != nil {
			return err
		}
		hc.Authorization = &config_util.Authorization{Type: "Bearer", Credentials: config_util.Secret(tok)}
	}
	if a := s.Authorization; a != nil {
		cred, err := r.secret(ns, a.Credentials, "authorization.credentials")
		if err != nil {
			return err
		}
		hc.Authorization = &config_util.Authorization{Type: cmp.Or(a.Type, "Bearer"), Credentials: config_util.Secret(cred)}
	}
	return hc.Validate()
}

// reader reads Secret and ConfigMap keys from the API server, each object once until
// forget: target changes do not cost API calls, the refresh interval bounds how stale a
// rotated credential or a Secret created late can be.
type reader struct {
	ctx   context.Context
	cs    kubeclient.Interface
	reads *prometheus.CounterVec       // by result
	cache map[string]map[string]string // "secret/ns/name" → data; nil: not found or failed
	// values are the keys read by the current build, for its fingerprint.
	values map[string]string
}

func newReader(ctx context.Context, cs kubeclient.Interface, reads *prometheus.CounterVec) *reader {
	return &reader{ctx: ctx, cs: cs, reads: reads, cache: map[string]map[string]string{}}
}

// forget drops what was read, so that the next build reads it again.
func (r *reader) forget() { clear(r.cache) }

func (r *reader) secret(ns string, sel *monitor.SecretKeySelector, field string) (string, error) {
	return r.get("secret", ns, sel, field)
}

func (r *reader) secretOrConfigMap(ns string, v monitor.SecretOrConfigMap, field string) (string, error) {
	switch {
	case v.Secret != nil && v.ConfigMap != nil:
		return "", fmt.Errorf("%s: secret and configMap are both set", field)
	case v.Secret != nil:
		return r.get("secret", ns, v.Secret, field+".secret")
	case v.ConfigMap != nil:
		return r.get("configmap", ns, v.ConfigMap, field+".configMap")
	}
	return "", nil
}

func (r *reader) get(kind, ns string, sel *monitor.SecretKeySelector, field string) (string, error) {
	if sel == nil {
		return "", nil
	}
	id := kind + "/" + ns + "/" + sel.Name
	data, done := r.cache[id]
	if !done {
		var err error
		data, err = r.fetch(kind, ns, sel.Name)
		switch {
		case err == nil:
			r.reads.WithLabelValues("ok").Inc()
		case apierrors.IsNotFound(err):
			r.reads.WithLabelValues("not_found").Inc()
		default:
			r.reads.WithLabelValues("error").Inc()
			return "", fmt.Errorf("%s: read %s %s/%s: %w", field, kind, ns, sel.Name, err) // not cached: tried again next build
		}
		r.cache[id] = data
	}
	v, ok := data[sel.Key]
	if !ok {
		if sel.Optional != nil && *sel.Optional {
			return "", nil
		}
		if data == nil {
			return "", fmt.Errorf("%s: %s %s/%s not found", field, kind, ns, sel.Name)
		}
		return "", fmt.Errorf("%s: %s %s/%s has no key %q", field, kind, ns, sel.Name, sel.Key)
	}
	r.values[id+"/"+sel.Key] = v
	return v, nil
}

func (r *reader) fetch(kind, ns, name string) (map[string]string, error) {
	if kind == "configmap" {
		cm, err := r.cs.CoreV1().ConfigMaps(ns).Get(r.ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return cm.Data, nil
	}
	s, err := r.cs.CoreV1().Secrets(ns).Get(r.ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(s.Data))
	for k, v := range s.Data {
		out[k] = string(v)
	}
	return out, nil
}
