package main

import (
	lokiprocess "github.com/sondehq/sonde/components/loki/process"
	lokifile "github.com/sondehq/sonde/components/loki/source/file"
	lokijournal "github.com/sondehq/sonde/components/loki/source/journal"
	lokikubernetes "github.com/sondehq/sonde/components/loki/source/kubernetes"
	lokievents "github.com/sondehq/sonde/components/loki/source/kubernetesevents"
	otelloki "github.com/sondehq/sonde/components/otelcol/exporter/loki"
	otelprometheus "github.com/sondehq/sonde/components/otelcol/exporter/prometheus"
	"github.com/sondehq/sonde/components/otelcol/processor/batch"
	"github.com/sondehq/sonde/components/otelcol/processor/k8sattributes"
	"github.com/sondehq/sonde/components/otelcol/processor/memorylimiter"
	otlpreceiver "github.com/sondehq/sonde/components/otelcol/receiver/otlp"
	"github.com/sondehq/sonde/components/prometheus/exporter/gpu"
	"github.com/sondehq/sonde/components/prometheus/exporter/self"
	"github.com/sondehq/sonde/components/prometheus/exporter/unix"
	"github.com/sondehq/sonde/components/prometheus/operator/podmonitors"
	"github.com/sondehq/sonde/components/prometheus/operator/probes"
	operatorscrape "github.com/sondehq/sonde/components/prometheus/operator/scrape"
	"github.com/sondehq/sonde/components/prometheus/operator/servicemonitors"
	promrelabel "github.com/sondehq/sonde/components/prometheus/relabel"
	"github.com/sondehq/sonde/components/prometheus/scrape"
	"github.com/sondehq/sonde/discovery/kubelet"
	"github.com/sondehq/sonde/discovery/kubernetes"
	discoveryrelabel "github.com/sondehq/sonde/discovery/relabel"
	"github.com/sondehq/sonde/discovery/shard"
	"github.com/sondehq/sonde/discovery/static"
	eswrite "github.com/sondehq/sonde/exporters/elasticsearch/write"
	"github.com/sondehq/sonde/exporters/loki/echo"
	lokiwrite "github.com/sondehq/sonde/exporters/loki/write"
	otelkafka "github.com/sondehq/sonde/exporters/otelcol/kafka"
	otlpexporter "github.com/sondehq/sonde/exporters/otelcol/otlp"
	"github.com/sondehq/sonde/exporters/otelcol/otlphttp"
	"github.com/sondehq/sonde/exporters/prometheus/remotewrite"
	"github.com/sondehq/sonde/exporters/prometheus/serve"
	"github.com/sondehq/sonde/pipeline"
)

// registry lists every component type sonde knows, explicitly.
func registry() (*pipeline.Registry, error) {
	return pipeline.NewRegistry(
		unix.Registration,
		self.Registration,
		gpu.Registration,
		scrape.Registration,
		servicemonitors.Registration,
		podmonitors.Registration,
		probes.Registration,
		operatorscrape.Registration,
		discoveryrelabel.Registration,
		promrelabel.Registration,
		serve.Registration,
		remotewrite.Registration,
		lokifile.Registration,
		lokikubernetes.Registration,
		lokievents.Registration,
		lokijournal.Registration,
		lokiprocess.Registration,
		lokiwrite.Registration,
		echo.Registration,
		eswrite.Registration,
		kubernetes.Registration,
		kubelet.Registration,
		shard.Registration,
		static.Registration,
		otlpreceiver.Registration,
		memorylimiter.Registration,
		batch.Registration,
		k8sattributes.Registration,
		otlpexporter.Registration,
		otlphttp.Registration,
		otelkafka.Registration,
		otelprometheus.Registration,
		otelloki.Registration,
	)
}
