package kubernetesevents

import (
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

func TestArgumentsValidate(t *testing.T) {
	cases := []struct {
		name   string
		modify func(*Arguments)
		fields []string // fields named by the errors; none: valid
	}{
		{"defaults with forward_to", func(*Arguments) {}, nil},
		{"namespaces, json, lease", func(a *Arguments) {
			a.Namespaces, a.LogFormat = []string{"shop", "web"}, FormatJSON
			a.LeaderElection.LeaseNamespace, a.LeaderElection.Identity = "sonde", "node-1"
		}, nil},
		{"short timings", func(a *Arguments) {
			a.LeaderElection.LeaseDuration = model.Duration(3 * time.Second)
			a.LeaderElection.RenewDeadline = model.Duration(2 * time.Second)
			a.LeaderElection.RetryPeriod = model.Duration(500 * time.Millisecond)
			a.LeaderElection.FailoverOverlap = 0
		}, nil},
		{"no forward_to", func(a *Arguments) { a.ForwardTo = nil }, []string{"forward_to"}},
		{"bad namespace", func(a *Arguments) { a.Namespaces = []string{"Shop_1"} }, []string{"namespaces[0]"}},
		{"duplicate namespace", func(a *Arguments) { a.Namespaces = []string{"shop", "shop"} }, []string{"namespaces[1]"}},
		{"empty job_name", func(a *Arguments) { a.JobName = "" }, []string{"job_name"}},
		{"bad log_format", func(a *Arguments) { a.LogFormat = "text" }, []string{"log_format"}},
		{"bad lease name", func(a *Arguments) { a.LeaderElection.LeaseName = "Sonde Events" }, []string{"leader_election.lease_name"}},
		{"empty lease name", func(a *Arguments) { a.LeaderElection.LeaseName = "" }, []string{"leader_election.lease_name"}},
		{"bad lease namespace", func(a *Arguments) { a.LeaderElection.LeaseNamespace = "a.b" }, []string{"leader_election.lease_namespace"}},
		{"lease not longer than renew", func(a *Arguments) {
			a.LeaderElection.LeaseDuration = model.Duration(10 * time.Second)
		}, []string{"leader_election.lease_duration"}},
		{"lease in fractions of a second", func(a *Arguments) {
			a.LeaderElection.LeaseDuration = model.Duration(15500 * time.Millisecond)
		}, []string{"leader_election.lease_duration"}},
		{"renew not longer than 1.2 retry", func(a *Arguments) {
			a.LeaderElection.RetryPeriod = model.Duration(9 * time.Second)
		}, []string{"leader_election.renew_deadline"}},
		{"zero retry", func(a *Arguments) { a.LeaderElection.RetryPeriod = 0 }, []string{"leader_election.retry_period"}},
		{"negative overlap", func(a *Arguments) {
			a.LeaderElection.FailoverOverlap = model.Duration(-time.Second)
		}, []string{"leader_election.failover_overlap"}},
		{"kubeconfig and api_server", func(a *Arguments) {
			a.KubeconfigFile = "/k"
			a.APIServer.URL = &url.URL{Scheme: "https", Host: "k:6443"}
		}, []string{"kubeconfig_file"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := DefaultArguments()
			a.ForwardTo = []string{"loki.write/default"}
			tc.modify(a)
			require.Equal(t, tc.fields, pipelinetest.FieldsOf(a.Validate()))
		})
	}
}

// What a user writes decodes strictly onto the defaults: a nested key leaves the other
// leader_election defaults in place, an unknown one fails.
func TestArgumentsDecode(t *testing.T) {
	a := pipelinetest.DecodeArgs[*Arguments](t, Registration, `
namespaces: [shop]
forward_to: [loki.write/default]
leader_election:
  lease_namespace: sonde
  failover_overlap: 30s
`)
	require.NoError(t, a.Validate())
	want := DefaultArguments()
	want.Namespaces, want.ForwardTo = []string{"shop"}, []string{"loki.write/default"}
	want.LeaderElection.LeaseNamespace = "sonde"
	want.LeaderElection.FailoverOverlap = model.Duration(30 * time.Second)
	require.Equal(t, want, a)
	require.Equal(t, DefaultJobName, a.JobName)
	require.Equal(t, model.Duration(15*time.Second), a.LeaderElection.LeaseDuration)
}

func TestIdentityAndLeaseNamespace(t *testing.T) {
	l := DefaultArguments().LeaderElection
	t.Setenv("POD_NAME", "sonde-abcde")
	t.Setenv("POD_NAMESPACE", "observability")
	id, err := l.identity()
	require.NoError(t, err)
	require.Equal(t, "sonde-abcde", id)
	ns, _ := l.leaseNamespace()
	require.Equal(t, "observability", ns)

	l.Identity, l.LeaseNamespace = "me", "sonde"
	id, err = l.identity()
	require.NoError(t, err)
	require.Equal(t, "me", id)
	ns, from := l.leaseNamespace()
	require.Equal(t, "sonde", ns)
	require.Equal(t, "leader_election.lease_namespace", from)

	t.Setenv("POD_NAME", "")
	l.Identity = ""
	id, err = l.identity()
	require.NoError(t, err)
	require.NotEmpty(t, id, "the host name")
}

func TestLifecycle(t *testing.T) {
	t.Setenv("POD_NAMESPACE", "sonde")
	args := DefaultArguments()
	args.ForwardTo = []string{"loki.write/default"}
	pipelinetest.Lifecycle(t, Registration, args, nil)
}
