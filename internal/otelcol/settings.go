package otelcol

import (
	"strings"

	"go.opentelemetry.io/collector/component"
)

// BuildInfo is what the collector's components are told about the program running them.
var BuildInfo = component.BuildInfo{Command: "sonde", Description: "sonde"}

// ComponentID returns the collector's ID of a collector component of type typ run by the
// sonde component id: typ, named after the name part of id ("default" of
// "otelcol.receiver.otlp/default").
func ComponentID(typ component.Type, id string) component.ID {
	if i := strings.LastIndexByte(id, '/'); i >= 0 && i < len(id)-1 {
		id = id[i+1:]
	}
	return component.NewIDWithName(typ, id)
}
