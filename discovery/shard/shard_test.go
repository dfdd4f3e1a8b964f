package shard

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	config_util "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sondehq/sonde/discovery/kubetest"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

// scrapeInterval is the interval the sharding guarantee is stated against: a target may
// be owned by two agents for less than one scrape interval.
const scrapeInterval = 15 * time.Second

const inputID = "discovery.relabel/cluster"

// agent is one sonde agent: a discovery.shard with its own informer cache (as in its own
// process) and fake host.
type agent struct {
	name string // pod name
	node string
	host *pipelinetest.Host
	id   string

	mu      sync.Mutex
	stopped bool
	cancel  context.CancelFunc
	done    chan error
}

func (a *agent) owned() map[string]bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]bool{}
	if a.stopped {
		return out // a dead agent scrapes nothing
	}
	for _, t := range a.host.Published(a.id) {
		out[string(t[model.AddressLabel])] = true
	}
	return out
}

func (a *agent) stop(t *testing.T) {
	t.Helper()
	a.mu.Lock()
	if a.stopped {
		a.mu.Unlock()
		return
	}
	a.stopped = true
	a.mu.Unlock()
	a.cancel()
	select {
	case err := <-a.done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("agent did not stop")
	}
}

type shardCluster struct {
	s       *kubetest.Server
	ns      string
	token   string
	targets pipeline.Targets
	all     []string
}

func (c *shardCluster) createPod(t *testing.T, name, node string) {
	pod := c.s.CreatePod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: c.ns, Labels: map[string]string{"app.kubernetes.io/name": "sonde"}},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "sonde"}}},
	}, nil)
	c.s.SetPodStatus(t, pod, kubetest.PodStatus{PodIP: "10.2.0.1", Ready: true})
}

func (c *shardCluster) start(t *testing.T, name, node string) *agent {
	t.Helper()
	u, err := url.Parse(c.s.URL)
	require.NoError(t, err)
	args := DefaultArguments()
	args.Targets = []string{inputID}
	args.Namespace = c.ns
	args.PodName = name
	args.APIServer = config_util.URL{URL: u}
	args.HTTPClientConfig.BearerToken = config_util.Secret(c.token)
	args.HTTPClientConfig.TLSConfig.CAFile = c.s.CAFile

	a := &agent{name: name, node: node, host: pipelinetest.NewHost(), id: "discovery.shard/" + name, done: make(chan error, 1)}
	a.host.SetTargets(inputID, c.targets)
	// pipelinetest.Options gives every agent an informer cache of its own.
	comp, err := Registration.New(pipelinetest.Options(t, a.id, a.host), args)
	require.NoError(t, err)
	a.host.Export(a.id, comp)
	var ctx context.Context
	ctx, a.cancel = context.WithCancel(context.Background())
	go func() { a.done <- comp.Run(ctx) }()
	t.Cleanup(func() { a.stop(t) })
	return a
}

// observer samples ownership across the agents whenever any of them publishes and keeps,
// per target, how long it has been owned by two or more agents at once, and by none.
type observer struct {
	agents []*agent
	all    []string

	mu          sync.Mutex
	dualSince   map[string]time.Time
	maxDual     time.Duration
	maxDualAddr string
}

func (o *observer) sample(now time.Time) (owners map[string][]string) {
	owners = map[string][]string{}
	o.mu.Lock()
	agents := append([]*agent(nil), o.agents...)
	o.mu.Unlock()
	for _, a := range agents {
		for addr := range a.owned() {
			owners[addr] = append(owners[addr], a.node)
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, addr := range o.all {
		if len(owners[addr]) > 1 {
			if _, ok := o.dualSince[addr]; !ok {
				o.dualSince[addr] = now
			}
			if d := now.Sub(o.dualSince[addr]); d > o.maxDual {
				o.maxDual, o.maxDualAddr = d, addr
			}
		} else {
			delete(o.dualSince, addr)
		}
	}
	return owners
}

// run samples every 10ms until ctx ends: agents publish from their own goroutines, and a
// double ownership must be seen however briefly it lasts.
func (o *observer) run(ctx context.Context) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			o.sample(now)
		}
	}
}

// waitAssignment waits until every target is owned by exactly one live agent and returns
// the assignment (target → node).
func (o *observer) waitAssignment(t *testing.T, within time.Duration, cond func(map[string]string) bool) (map[string]string, time.Duration) {
	t.Helper()
	start := time.Now()
	tick := time.NewTicker(20 * time.Millisecond) // sampling: agents publish from their own goroutines
	defer tick.Stop()
	var last map[string][]string
	for ; time.Since(start) < within; <-tick.C {
		last = o.sample(time.Now())
		assign := map[string]string{}
		ok := true
		for _, addr := range o.all {
			if len(last[addr]) != 1 {
				ok = false
				break
			}
			assign[addr] = last[addr][0]
		}
		if ok && (cond == nil || cond(assign)) {
			return assign, time.Since(start)
		}
	}
	t.Fatalf("no single-owner assignment within %s; last owners: %v", within, last)
	return nil, 0
}

func TestShardingThreeAgents(t *testing.T) {
	s := kubetest.Shared(t)
	ns := kubetest.Unique("sonde-shard")
	c := &shardCluster{s: s, ns: ns}
	c.token = s.TokenForClusterRole(t, ns, "sonde", "cluster-admin")
	for i := range 60 {
		addr := fmt.Sprintf("svc-%02d.apps.svc:8080", i)
		c.targets = append(c.targets, model.LabelSet{"__address__": model.LabelValue(addr), "job": "cluster",
			"__meta_kubernetes_service_name": model.LabelValue(fmt.Sprintf("svc-%02d", i))})
		c.all = append(c.all, addr)
	}
	nodes := []string{"node-a", "node-b", "node-c"}
	var agents []*agent
	for _, n := range nodes {
		c.createPod(t, "sonde-"+n, n)
	}
	for _, n := range nodes {
		agents = append(agents, c.start(t, "sonde-"+n, n))
	}
	o := &observer{agents: agents, all: c.all, dualSince: map[string]time.Time{}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go o.run(ctx)

	// 1. Three agents: every target owned by exactly one, each agent some.
	before, _ := o.waitAssignment(t, time.Minute, func(a map[string]string) bool { return len(countBy(a)) == 3 })
	t.Logf("three agents: %v", countBy(before))

	// 2. Agent b dies: its pod goes away (the DaemonSet's pod is deleted), its process
	// stops. Its targets move to a and c within 30s; the others' stay where they were.
	killed := time.Now()
	agents[1].stop(t)
	s.DeletePod(t, ns, "sonde-node-b")
	after, took := o.waitAssignment(t, 30*time.Second, func(a map[string]string) bool { return countBy(a)["node-b"] == 0 })
	t.Logf("node-b gone: targets moved in %s: %v", time.Since(killed).Round(time.Millisecond), countBy(after))
	require.Less(t, took, 30*time.Second)
	for addr, owner := range before {
		if owner != "node-b" {
			require.Equal(t, owner, after[addr], "target %s of a surviving agent moved", addr)
		}
	}

	// 3. Agent b returns (a new pod on the same node, a new process): its targets move back.
	c.createPod(t, "sonde-node-b-2", "node-b")
	back := c.start(t, "sonde-node-b-2", "node-b")
	o.mu.Lock()
	o.agents = append(o.agents, back)
	o.mu.Unlock()
	_, took = o.waitAssignment(t, 30*time.Second, func(a map[string]string) bool { return equalMaps(a, before) })
	t.Logf("node-b back: targets moved back in %s", took.Round(time.Millisecond))

	// 4. Agent c turns unready (its readiness probe fails) while its process still runs:
	// the others take over and c drops them, so they are not scraped twice.
	podC, err := s.Admin.CoreV1().Pods(ns).Get(context.Background(), "sonde-node-c", metav1.GetOptions{})
	require.NoError(t, err)
	s.SetPodStatus(t, podC, kubetest.PodStatus{PodIP: "10.2.0.1", Ready: false})
	unready, _ := o.waitAssignment(t, 30*time.Second, func(a map[string]string) bool { return countBy(a)["node-c"] == 0 })
	t.Logf("node-c unready: %v", countBy(unready))

	cancel()
	t.Logf("longest double ownership: %s (%s)", o.maxDual, o.maxDualAddr)
	require.Less(t, o.maxDual, scrapeInterval, "a target was owned by two agents for %s", o.maxDual)
}

func countBy(assign map[string]string) map[string]int {
	out := map[string]int{}
	for _, n := range assign {
		out[n]++
	}
	return out
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestNotAMemberOwnsNothing(t *testing.T) {
	s := kubetest.Shared(t)
	ns := kubetest.Unique("sonde-shard")
	c := &shardCluster{s: s, ns: ns, targets: pipeline.Targets{{"__address__": "x:1"}}}
	c.token = s.TokenForClusterRole(t, ns, "sonde", "cluster-admin")
	a := c.start(t, "sonde-nowhere", "node-z") // no such pod
	view := a.host.Targets([]string{a.id})
	defer view.Close()
	select {
	case <-view.Changed():
	case <-time.After(time.Minute):
		t.Fatal("nothing published")
	}
	require.Empty(t, a.host.Published(a.id))
	require.NotNil(t, a.host.Published(a.id), "an empty snapshot is published once the members are known")
}

func TestValidate(t *testing.T) {
	ok := func() *Arguments {
		a := DefaultArguments()
		a.Targets = []string{"x/y"}
		return a
	}
	tests := []struct {
		name   string
		modify func(*Arguments)
		field  string
	}{
		{name: "ok", modify: func(*Arguments) {}},
		{name: "no targets", modify: func(a *Arguments) { a.Targets = nil }, field: "targets"},
		{name: "bad selector", modify: func(a *Arguments) { a.Selector = "a in" }, field: "selector"},
		{name: "empty selector", modify: func(a *Arguments) { a.Selector = "" }, field: "selector"},
		{name: "bad namespace", modify: func(a *Arguments) { a.Namespace = "NS" }, field: "namespace"},
		{name: "bad pod", modify: func(a *Arguments) { a.PodName = "a b" }, field: "pod_name"},
		{name: "kubeconfig and api_server", modify: func(a *Arguments) {
			a.KubeconfigFile = "/k"
			a.APIServer.URL, _ = url.Parse("https://x")
		}, field: "kubeconfig_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := ok()
			tt.modify(a)
			err := a.Validate()
			if tt.field == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Contains(t, fields(err), tt.field)
		})
	}
}

func TestPodNameFromEnvironment(t *testing.T) {
	a := DefaultArguments()
	a.Targets = []string{"x/y"}
	a.Namespace = "sonde"
	t.Setenv("POD_NAME", "")
	_, _, err := a.resolve()
	require.ErrorContains(t, err, "POD_NAME")
	t.Setenv("POD_NAME", "sonde-abcde")
	_, pod, err := a.resolve()
	require.NoError(t, err)
	require.Equal(t, "sonde-abcde", pod)
}

func fields(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		if fe, ok := err.(*pipeline.FieldError); ok {
			out = append(out, fe.Field)
		}
	}
	walk(err)
	sort.Strings(out)
	return out
}

func TestLifecycle(t *testing.T) {
	s := kubetest.Shared(t)
	ns := kubetest.Unique("sonde-shard")
	token := s.TokenForClusterRole(t, ns, "sonde", "cluster-admin")
	u, err := url.Parse(s.URL)
	require.NoError(t, err)
	args := DefaultArguments()
	args.Targets = []string{inputID}
	args.Namespace, args.PodName = ns, "sonde-a"
	args.APIServer = config_util.URL{URL: u}
	args.HTTPClientConfig.BearerToken = config_util.Secret(token)
	args.HTTPClientConfig.TLSConfig.CAFile = s.CAFile
	updated := *args
	updated.Selector = "app=other"
	// Lifecycle's goroutine check also finds an informer left running in its cache.
	pipelinetest.Lifecycle(t, Registration, args, &updated)
}
