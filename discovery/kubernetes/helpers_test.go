package kubernetes

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	config_util "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/discovery/kubetest"
	"github.com/sondehq/sonde/internal/kube"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

// clientArgs reaches the test API server with token.
func clientArgs(s *kubetest.Server, token string) kube.ClientArgs {
	u, err := url.Parse(s.URL)
	if err != nil {
		panic(err)
	}
	c := kube.DefaultClientArgs()
	c.APIServer = config_util.URL{URL: u}
	c.HTTPClientConfig.BearerToken = config_util.Secret(token)
	c.HTTPClientConfig.TLSConfig.CAFile = s.CAFile
	return c
}

// running is a discovery.kubernetes component under test.
type running struct {
	c    *Component
	host *pipelinetest.Host
	id   string
	stop func()
}

// start runs a component with its own fake host and informers from cache, stopped at the
// end of the test (or by calling stop).
func start(t *testing.T, cache *kube.Cache, args *Arguments) *running {
	t.Helper()
	host := pipelinetest.NewHost()
	id := "discovery.kubernetes/" + strings.ReplaceAll(t.Name(), "/", "_")
	c := build(t, host, cache, id, Registration, args).(*Component)
	stop := pipelinetest.Run(t, c)
	return &running{c: c, host: host, id: id, stop: stop}
}

// build builds a component as the controller does, from its registration (which validates
// args), with informers from cache, and connects what it exports to host.
func build(t *testing.T, host *pipelinetest.Host, cache *kube.Cache, id string, reg pipeline.Registration, args pipeline.Arguments) pipeline.Component {
	t.Helper()
	opts := pipelinetest.Options(t, id, host)
	opts.Kube = cache
	c, err := reg.New(opts, args)
	require.NoError(t, err)
	host.Export(id, c)
	return c
}

// targets returns what the component published last, sorted by address then labels.
func (r *running) targets() pipeline.Targets {
	ts := slices.Clone(r.host.Published(r.id))
	slices.SortFunc(ts, func(a, b model.LabelSet) int { return strings.Compare(a.String(), b.String()) })
	return ts
}

// waitFor waits (up to a minute) until cond holds for the published targets and returns
// them; it wakes on every publication.
func (r *running) waitFor(t *testing.T, what string, cond func(pipeline.Targets) bool) pipeline.Targets {
	t.Helper()
	view := r.host.Targets([]string{r.id})
	defer view.Close()
	timeout := time.After(time.Minute)
	for {
		last := r.targets()
		if cond(last) {
			return last
		}
		select {
		case <-view.Changed():
		case <-timeout:
			t.Fatalf("waiting for %s; last published:\n%s", what, dump(last))
		}
	}
}

func dump(ts pipeline.Targets) string {
	var b strings.Builder
	for _, t := range ts {
		b.WriteString(t.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// addresses returns the __address__ of every target, sorted.
func addresses(ts pipeline.Targets) []string {
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, string(t[model.AddressLabel]))
	}
	slices.Sort(out)
	return out
}

// byAddress returns the target with address addr, or nil.
func byAddress(ts pipeline.Targets, addr string) model.LabelSet {
	for _, t := range ts {
		if string(t[model.AddressLabel]) == addr {
			return t
		}
	}
	return nil
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// hasAddresses returns a condition that the published addresses are exactly want.
func hasAddresses(want ...string) func(pipeline.Targets) bool {
	slices.Sort(want)
	return func(ts pipeline.Targets) bool { return slices.Equal(addresses(ts), want) }
}

// runInBackground runs c until the returned function is called (or the test ends).
func runInBackground(t *testing.T, c pipeline.Component) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Fatal("Run did not return within 30s")
		}
	}
	t.Cleanup(stop)
	return stop
}
