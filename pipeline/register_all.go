package pipeline

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// RegisterAll registers each of cs on reg, in order, and returns the errors joined: nil
// when every one was registered. A failure does not stop the others. A nil reg registers
// nothing. Components call it in New with their own metrics; the controller unregisters
// them when the instance goes away.
func RegisterAll(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	var errs []error
	for _, c := range cs {
		errs = append(errs, reg.Register(c))
	}
	return errors.Join(errs...)
}
