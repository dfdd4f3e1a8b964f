package config

import (
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	discoveryrelabel "github.com/sondehq/sonde/components/discovery/relabel"
	"github.com/sondehq/sonde/discovery/kubernetes/rules"
	"github.com/sondehq/sonde/pipeline"
)

// presetComponents renders preset name, expands it with NODE_NAME=node and returns its
// components' YAML by id.
func presetComponents(t *testing.T, name, node string) map[string]yaml.Node {
	t.Helper()
	y, err := RenderPreset(name, PresetData{})
	require.NoError(t, err)
	expanded, err := Expand(string(y), func(v string) (string, bool) {
		if v == "NODE_NAME" {
			return node, true
		}
		return "", false
	})
	require.NoError(t, err)
	var doc struct {
		Components map[string]yaml.Node `yaml:"components"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(expanded), &doc))
	return doc.Components
}

// exporterTargets are the targets the host exporters publish (instance: the host name).
var exporterTargets = pipeline.Targets{
	{"__address__": "127.0.0.1:12345", "__metrics_path__": "/api/v1/components/prometheus.exporter.unix/host/metrics", "job": "node-exporter", "instance": "sonde-x7k2p"},
	{"__address__": "127.0.0.1:12345", "__metrics_path__": "/api/v1/components/prometheus.exporter.gpu/gpu/metrics", "job": "dcgm-exporter", "instance": "sonde-x7k2p"},
	{"__address__": "127.0.0.1:12345", "__metrics_path__": "/metrics", "job": "sonde", "instance": "sonde-x7k2p"},
}

// TestDaemonsetHostSeriesNodeLabels: in the daemonset preset, the host, GPU and sonde
// targets carry instance and node = the node's name, exactly as the kubelet and cAdvisor
// targets do, so that their series join; the host preset keeps the host name.
func TestDaemonsetHostSeriesNodeLabels(t *testing.T) {
	const node = "ip-10-0-1-17.eu-west-1.compute.internal"
	comps := presetComponents(t, "daemonset", node)

	var scrape struct {
		Targets []string `yaml:"targets"`
	}
	n := comps["prometheus.scrape/host"]
	require.NoError(t, n.Decode(&scrape))
	require.Equal(t, []string{"discovery.relabel/host"}, scrape.Targets, "every host target goes through the relabelling")

	var host struct {
		Targets []string          `yaml:"targets"`
		Rules   []*relabel.Config `yaml:"rules"`
	}
	n = comps["discovery.relabel/host"]
	require.NoError(t, n.Decode(&host))
	require.ElementsMatch(t, []string{"prometheus.exporter.unix/host", "prometheus.exporter.gpu/gpu", "prometheus.exporter.self/sonde"}, host.Targets)
	got := discoveryrelabel.Process(exporterTargets, host.Rules)
	require.Len(t, got, len(exporterTargets))
	for i, tg := range got {
		require.Equal(t, model.LabelValue(node), tg["instance"], tg)
		require.Equal(t, model.LabelValue(node), tg["node"], tg)
		require.Equal(t, exporterTargets[i]["job"], tg["job"])
		require.Equal(t, exporterTargets[i]["__metrics_path__"], tg["__metrics_path__"])
	}

	// The kubelet's and cAdvisor's targets: the same instance and node.
	for _, set := range []string{"kubelet-cadvisor", "kubelet", "kubelet-resource"} {
		rs, err := rules.Load(set)
		require.NoError(t, err)
		kt := discoveryrelabel.Process(pipeline.Targets{{"__address__": "10.0.1.17:10250", "__meta_kubernetes_node_name": model.LabelValue(node)}}, rs)
		require.Len(t, kt, 1, set)
		require.Equal(t, model.LabelValue(node), kt[0]["instance"], set)
		require.Equal(t, model.LabelValue(node), kt[0]["node"], set)
	}

	// Without Kubernetes the exporters' own instance (the host name) stays.
	comps = presetComponents(t, "host", node)
	require.NotContains(t, comps, "discovery.relabel/host")
	n = comps["prometheus.scrape/host"]
	require.NoError(t, n.Decode(&scrape))
	require.ElementsMatch(t, host.Targets, scrape.Targets)
}
