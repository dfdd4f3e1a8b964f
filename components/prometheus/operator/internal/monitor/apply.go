package monitor

import (
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/sondehq/sonde/pipeline"
)

// Apply runs every job over every target of its role and returns the targets kept, job by
// job in order. A target may be kept by several jobs (two endpoints of a monitor, two
// monitors selecting one service): each is scraped once per job, as by the operator's
// Prometheus. wrongRole counts the input targets that no job can read.
func Apply(jobs []Job, in pipeline.Targets) (out pipeline.Targets, wrongRole int) {
	out = pipeline.Targets{}
	roles := make([]Role, len(in))
	for i, t := range in {
		roles[i] = RoleOf(t)
		if roles[i] == RoleNone {
			wrongRole++
		}
	}
	lb := labels.NewBuilder(labels.EmptyLabels())
	for _, j := range jobs {
		for _, t := range j.Static {
			if ls := process(lb, t, j.Labels, j.Rules[RoleStatic]); ls != nil {
				out = append(out, ls)
			}
		}
		for i, t := range in {
			rules, ok := j.Rules[roles[i]]
			if !ok {
				continue
			}
			if ls := process(lb, t, j.Labels, rules); ls != nil {
				out = append(out, ls)
			}
		}
	}
	if len(jobs) == 0 {
		wrongRole = 0
	}
	return out, wrongRole
}

// process relabels one target as Prometheus relabels a discovered target for a scrape job:
// the job's labels first (where discovery did not set them), then the rules. nil: dropped.
func process(lb *labels.Builder, t, jobLabels model.LabelSet, rules []*relabel.Config) model.LabelSet {
	lb.Reset(labels.EmptyLabels())
	for k, v := range jobLabels {
		lb.Set(string(k), string(v))
	}
	for k, v := range t {
		lb.Set(string(k), string(v))
	}
	if !relabel.ProcessBuilder(lb, rules...) || lb.Get(model.AddressLabel) == "" {
		return nil
	}
	ls := make(model.LabelSet)
	lb.Range(func(l labels.Label) { ls[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
	return ls
}
