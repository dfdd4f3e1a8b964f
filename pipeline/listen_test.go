package pipeline_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline"
)

// listenArgs listen on the addresses written; the field paths are "listen[i]".
type listenArgs struct{ Addrs []string }

func (*listenArgs) Validate() error { return nil }

func (a *listenArgs) ListenAddrs() []pipeline.ListenAddr {
	out := make([]pipeline.ListenAddr, len(a.Addrs))
	for i, addr := range a.Addrs {
		out[i] = pipeline.ListenAddr{Field: fmt.Sprintf("listen[%d]", i), Addr: addr}
	}
	return out
}

type listenComponent struct{}

func (listenComponent) Run(ctx context.Context) error { <-ctx.Done(); return nil }

func listenSpecs(addrs ...[]string) []pipeline.Spec {
	var specs []pipeline.Spec
	for i, a := range addrs {
		specs = append(specs, pipeline.Spec{
			ID: fmt.Sprintf("test.listen/l%d", i), Type: "test.listen", Name: fmt.Sprintf("l%d", i),
			Args: &listenArgs{Addrs: a},
			Locate: func(field string) string {
				return fmt.Sprintf("c.yaml:%d%s", 10*(i+1), strings.TrimPrefix(field, "listen"))
			},
		})
	}
	return specs
}

func listenRegistry(t *testing.T) *pipeline.Registry {
	reg, err := pipeline.NewRegistry(pipeline.Register("test.listen",
		func() *listenArgs { return &listenArgs{} },
		func(pipeline.Options, *listenArgs) (listenComponent, error) { return listenComponent{}, nil }))
	require.NoError(t, err)
	return reg
}

func TestValidateGraphListenConflicts(t *testing.T) {
	reg := listenRegistry(t)
	cases := []struct {
		name  string
		addrs [][]string
		want  string // "" for no conflict
	}{
		{"same address", [][]string{{"127.0.0.1:4317"}, {"127.0.0.1:4317"}},
			"c.yaml:20[0]: test.listen/l1: listen[0]: 127.0.0.1:4317 overlaps test.listen/l0 listen[0] (127.0.0.1:4317, c.yaml:10[0]): both listen on port 4317"},
		{"wildcard then one address", [][]string{{"0.0.0.0:4317"}, {"10.1.2.3:4317"}}, "test.listen/l1: listen[0]: 10.1.2.3:4317 overlaps test.listen/l0 listen[0] (0.0.0.0:4317"},
		{"one address then IPv6 wildcard", [][]string{{"127.0.0.1:4318"}, {"[::]:4318"}}, "test.listen/l1: listen[0]: [::]:4318 overlaps test.listen/l0"},
		{"empty host is the wildcard", [][]string{{":4318"}, {"[::1]:4318"}}, "test.listen/l1: listen[0]: [::1]:4318 overlaps"},
		{"both wildcards", [][]string{{"0.0.0.0:9000"}, {"[::]:9000"}}, "both listen on port 9000"},
		{"localhost is 127.0.0.1", [][]string{{"localhost:9000"}, {"127.0.0.1:9000"}}, "both listen on port 9000"},
		{"mapped IPv4", [][]string{{"[::ffff:127.0.0.1]:9000"}, {"127.0.0.1:9000"}}, "both listen on port 9000"},
		{"same host name", [][]string{{"Agent.local:9000"}, {"agent.local:9000"}}, "both listen on port 9000"},
		{"within one component", [][]string{{"0.0.0.0:4317", "127.0.0.1:4317"}},
			"c.yaml:10[1]: test.listen/l0: listen[1]: 127.0.0.1:4317 overlaps listen[0] (0.0.0.0:4317) of the same component"},
		{"service name", [][]string{{"127.0.0.1:http"}, {"127.0.0.1:80"}}, "both listen on port 80"},

		{"different ports", [][]string{{"0.0.0.0:4317"}, {"0.0.0.0:4318"}}, ""},
		{"different addresses", [][]string{{"127.0.0.1:4317"}, {"127.0.0.2:4317"}}, ""},
		{"IPv4 and IPv6 loopback", [][]string{{"127.0.0.1:4317"}, {"[::1]:4317"}}, ""},
		{"port 0 is any free port", [][]string{{"127.0.0.1:0"}, {"127.0.0.1:0"}}, ""},
		{"unparsable is left to Validate", [][]string{{"nope"}, {"nope"}}, ""},
		{"a name is not resolved", [][]string{{"agent.local:9000"}, {"10.0.0.1:9000"}}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := pipeline.ValidateGraph(reg, listenSpecs(tc.addrs...))
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestValidateGraphListenReserved(t *testing.T) {
	reg := listenRegistry(t)
	server := pipeline.ListenAddr{Field: "--server.listen", Addr: "0.0.0.0:12345"}
	err := pipeline.ValidateGraph(reg, listenSpecs([]string{"127.0.0.1:4317"}, []string{"127.0.0.1:12345"}), server)
	require.EqualError(t, err, "c.yaml:20[0]: test.listen/l1: listen[0]: 127.0.0.1:12345 overlaps sonde's own --server.listen (0.0.0.0:12345): both listen on port 12345")
	require.NoError(t, pipeline.ValidateGraph(reg, listenSpecs([]string{"127.0.0.1:4317"}), server))
	require.NoError(t, pipeline.ValidateGraph(reg, listenSpecs([]string{"127.0.0.1:12345"}),
		pipeline.ListenAddr{Field: "--server.listen", Addr: "127.0.0.1:0"}), "a server on any free port")
}

// Every conflict is reported, each pair once, together with reference errors.
func TestValidateGraphListenEveryConflict(t *testing.T) {
	err := pipeline.ValidateGraph(listenRegistry(t), listenSpecs([]string{":1"}, []string{":1"}, []string{":1"}))
	require.Error(t, err)
	require.Equal(t, 3, strings.Count(err.Error(), "overlaps"), err.Error())
}

// What the validation accepts can really be bound, and what it rejects cannot: the rule
// matches the operating system's.
func TestListenConflictsMatchTheKernel(t *testing.T) {
	reg := listenRegistry(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	for _, pair := range [][2]string{
		{"127.0.0.1", "127.0.0.1"}, {"0.0.0.0", "127.0.0.1"}, {"127.0.0.1", "0.0.0.0"}, {"", "127.0.0.1"},
		{"127.0.0.1", "127.0.0.2"}, {"127.0.0.1", "::1"}, {"::", "127.0.0.1"},
	} {
		a, b := net.JoinHostPort(pair[0], fmt.Sprint(port)), net.JoinHostPort(pair[1], fmt.Sprint(port))
		first, err := net.Listen("tcp", a)
		if err != nil {
			t.Logf("cannot listen on %s here: %v", a, err)
			continue
		}
		second, bindErr := net.Listen("tcp", b)
		if bindErr == nil {
			second.Close()
		} else if strings.Contains(bindErr.Error(), "cannot assign requested address") {
			first.Close()
			t.Logf("%s does not exist here", b)
			continue
		}
		first.Close()
		valErr := pipeline.ValidateGraph(reg, listenSpecs([]string{a}, []string{b}))
		require.Equal(t, bindErr != nil, valErr != nil, "%s then %s: bind error %v, validation error %v", a, b, bindErr, valErr)
	}
}
