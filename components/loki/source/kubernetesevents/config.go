package kubernetesevents

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/prometheus/common/model"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/sondehq/sonde/internal/kube"
	"github.com/sondehq/sonde/pipeline"
)

// Log formats of the lines (also the names of the LogQL parsers that read them).
const (
	FormatLogfmt = "logfmt"
	FormatJSON   = "json"
)

// Defaults.
const (
	DefaultJobName         = "loki.source.kubernetes_events"
	DefaultLeaseName       = "sonde-kubernetes-events"
	DefaultLeaseDuration   = 15 * time.Second
	DefaultRenewDeadline   = 10 * time.Second
	DefaultRetryPeriod     = 2 * time.Second
	DefaultFailoverOverlap = time.Minute
)

// jitterFactor is client-go's leaderelection.JitterFactor: renew_deadline must exceed
// retry_period times it.
const jitterFactor = 1.2

// Arguments configure loki.source.kubernetes_events.
//
//	loki.source.kubernetes_events/cluster:
//	  namespaces: [shop]          # empty: every namespace
//	  forward_to: [loki.write/default]
//	  leader_election:
//	    lease_namespace: sonde    # default: $POD_NAMESPACE
type Arguments struct {
	// Namespaces are the namespaces whose events are forwarded; empty: all namespaces (which
	// needs list and watch of events cluster-wide).
	Namespaces []string `yaml:"namespaces"`
	// JobName is the job label of every line.
	JobName string `yaml:"job_name"`
	// LogFormat is the format of the lines: logfmt or json.
	LogFormat string `yaml:"log_format"`
	// ForwardTo are the components the entries are sent to (they must accept logs).
	ForwardTo []string `yaml:"forward_to"`
	// LeaderElection says how the agents running this component elect the one that
	// forwards.
	LeaderElection LeaderElection `yaml:"leader_election"`

	// ClientArgs say how to reach the API server, as for discovery.kubernetes.
	kube.ClientArgs `yaml:",inline"`
}

// LeaderElection configures the Lease through which exactly one agent forwards the events.
type LeaderElection struct {
	// LeaseName is the name of the coordination.k8s.io/v1 Lease.
	LeaseName string `yaml:"lease_name"`
	// LeaseNamespace is the Lease's namespace; empty: $POD_NAMESPACE, else the service
	// account's namespace, else "default".
	LeaseNamespace string `yaml:"lease_namespace"`
	// Identity is this agent's name in the Lease; empty: $POD_NAME, else the host name.
	Identity string `yaml:"identity"`
	// LeaseDuration is how long the other agents wait, after the leader's last renewal,
	// before one of them takes over.
	LeaseDuration model.Duration `yaml:"lease_duration"`
	// RenewDeadline is how long the leader keeps trying to renew before it stops
	// forwarding.
	RenewDeadline model.Duration `yaml:"renew_deadline"`
	// RetryPeriod is how often the Lease is renewed, and how often the others try to take
	// it.
	RetryPeriod model.Duration `yaml:"retry_period"`
	// FailoverOverlap is how far before the previous leader's delivered mark a new leader
	// starts sending again (events whose time is within it are sent twice; Loki drops the
	// exact duplicates).
	FailoverOverlap model.Duration `yaml:"failover_overlap"`
}

// DefaultArguments returns Arguments with their defaults: the events of every namespace,
// as logfmt, through the in-cluster client, under a Lease named sonde-kubernetes-events.
func DefaultArguments() *Arguments {
	return &Arguments{
		JobName:   DefaultJobName,
		LogFormat: FormatLogfmt,
		LeaderElection: LeaderElection{
			LeaseName:       DefaultLeaseName,
			LeaseDuration:   model.Duration(DefaultLeaseDuration),
			RenewDeadline:   model.Duration(DefaultRenewDeadline),
			RetryPeriod:     model.Duration(DefaultRetryPeriod),
			FailoverOverlap: model.Duration(DefaultFailoverOverlap),
		},
		ClientArgs: kube.DefaultClientArgs(),
	}
}

// Validate implements pipeline.Arguments.
func (a *Arguments) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, kube.ValidateNamespaces("namespaces", a.Namespaces, pipeline.Field)...)
	if !model.LabelValue(a.JobName).IsValid() || a.JobName == "" {
		add(pipeline.Field("job_name", "must be a non-empty UTF-8 string, got %q", a.JobName))
	}
	if a.LogFormat != FormatLogfmt && a.LogFormat != FormatJSON {
		add(pipeline.Field("log_format", "must be %s or %s, got %q", FormatLogfmt, FormatJSON, a.LogFormat))
	}
	if len(a.ForwardTo) == 0 {
		add(pipeline.Field("forward_to", "at least one component is required"))
	}
	add(pipeline.Nest("leader_election", a.LeaderElection.validate()))
	add(a.ClientArgs.Validate(pipeline.Field))
	return errors.Join(errs...)
}

func (l *LeaderElection) validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	for _, msg := range validation.IsDNS1123Subdomain(l.LeaseName) {
		add(pipeline.Field("lease_name", "%q: %s", l.LeaseName, msg))
	}
	if l.LeaseNamespace != "" {
		for _, msg := range validation.IsDNS1123Label(l.LeaseNamespace) {
			add(pipeline.Field("lease_namespace", "%q: %s", l.LeaseNamespace, msg))
		}
	}
	lease, renew, retry := time.Duration(l.LeaseDuration), time.Duration(l.RenewDeadline), time.Duration(l.RetryPeriod)
	switch {
	case retry <= 0:
		add(pipeline.Field("retry_period", "must be positive, got %s", l.RetryPeriod))
	case float64(renew) <= jitterFactor*float64(retry):
		add(pipeline.Field("renew_deadline", "must be longer than %.1f × retry_period (%s), got %s", jitterFactor, l.RetryPeriod, l.RenewDeadline))
	case lease <= renew:
		add(pipeline.Field("lease_duration", "must be longer than renew_deadline (%s), got %s", l.RenewDeadline, l.LeaseDuration))
	}
	if lease%time.Second != 0 {
		// The Lease records its duration in whole seconds.
		add(pipeline.Field("lease_duration", "must be whole seconds, got %s", l.LeaseDuration))
	}
	if l.FailoverOverlap < 0 {
		add(pipeline.Field("failover_overlap", "must not be negative, got %s", l.FailoverOverlap))
	}
	return errors.Join(errs...)
}

// References implements pipeline.Referencer.
func (a *Arguments) References() []pipeline.Reference {
	return []pipeline.Reference{{Field: "forward_to", Kind: pipeline.KindLogs, IDs: a.ForwardTo}}
}

// namespaces returns the namespaces to watch: "" alone for all of them.
func (a *Arguments) namespaces() []string {
	if len(a.Namespaces) == 0 {
		return []string{""}
	}
	return a.Namespaces
}

// identity returns this agent's name in the Lease: identity, else $POD_NAME, else the host
// name.
func (l *LeaderElection) identity() (string, error) {
	if l.Identity != "" {
		return l.Identity, nil
	}
	if p := os.Getenv("POD_NAME"); p != "" {
		return p, nil
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "", fmt.Errorf("leader_election.identity: not set, no $POD_NAME and no host name: %v", err)
	}
	return h, nil
}

// leaseNamespace returns the Lease's namespace and where it came from.
func (l *LeaderElection) leaseNamespace() (ns, from string) {
	if l.LeaseNamespace != "" {
		return l.LeaseNamespace, "leader_election.lease_namespace"
	}
	if ns, err := kube.OwnNamespace(); err == nil {
		return ns, "own namespace"
	}
	return "default", "default (no $POD_NAMESPACE, not in a pod)"
}
