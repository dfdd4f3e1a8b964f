// Package targets holds helpers shared by the components that consume or produce target
// sets: conversion between sonde's flat target snapshots and Prometheus target groups,
// comparison of snapshots, and validation of relabelling rules.
package targets

import (
	"slices"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/targetgroup"

	"github.com/sondehq/sonde/pipeline"
)

// ToGroup wraps a snapshot into one Prometheus target group named source, without copying:
// every label set in ts is already merged, so the group carries no labels of its own. The
// label sets are shared with ts and must not be modified by either side.
func ToGroup(source string, ts pipeline.Targets) *targetgroup.Group {
	return &targetgroup.Group{Source: source, Targets: ts}
}

// FromGroups flattens Prometheus target groups (as discovery produces them) into a snapshot:
// each target's labels are merged over its group's labels, the target's own winning. Nil
// groups are skipped. The result shares nothing with groups.
func FromGroups(groups []*targetgroup.Group) pipeline.Targets {
	n := 0
	for _, g := range groups {
		if g != nil {
			n += len(g.Targets)
		}
	}
	out := make(pipeline.Targets, 0, n)
	for _, g := range groups {
		if g == nil {
			continue
		}
		for _, t := range g.Targets {
			ls := make(model.LabelSet, len(g.Labels)+len(t))
			for k, v := range g.Labels {
				ls[k] = v
			}
			for k, v := range t {
				ls[k] = v
			}
			out = append(out, ls)
		}
	}
	return out
}

// Equal reports whether two snapshots hold the same label sets in the same order.
func Equal(a, b pipeline.Targets) bool {
	return slices.EqualFunc(a, b, func(x, y model.LabelSet) bool { return x.Equal(y) })
}
