package scrape

import (
	"fmt"
	"testing"

	"github.com/prometheus/common/model"

	"github.com/sondehq/sonde/pipeline"
)

// BenchmarkGroups measures the conversion of a 1000-target snapshot plus static configs
// into the target groups handed to the scrape manager on every target change.
func BenchmarkGroups(b *testing.B) {
	args := decode(b, `
forward_to: [a/b]
targets: [discovery.kubernetes/pods]
static_configs:
  - {targets: ['127.0.0.1:9100', '127.0.0.1:9101'], labels: {env: prod}}
  - {targets: ['127.0.0.1:9400']}
`)
	ts := make(pipeline.Targets, 1000)
	for i := range ts {
		ts[i] = model.LabelSet{
			"__address__":                model.LabelValue(fmt.Sprintf("10.0.%d.%d:9100", i/256, i%256)),
			"__meta_kubernetes_pod_name": model.LabelValue(fmt.Sprintf("pod-%d", i)),
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = groups(args, ts)
	}
}
