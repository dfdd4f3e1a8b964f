package process

import (
	"context"
	"errors"
	"math"
	"sync"

	"github.com/prometheus/common/model"
	"golang.org/x/time/rate"

	"github.com/sondehq/sonde/pipeline"
)

// LimitConfig configures the limit stage.
//
//   - limit: {rate: 100, burst: 200, drop: true}
//   - limit: {rate: 10, burst: 10, by_label_name: pod}
type LimitConfig struct {
	// Rate is the sustained number of entries per second let through.
	Rate float64 `yaml:"rate"`
	// Burst is how many entries may pass at once above the rate (default: the rate, at
	// least 1).
	Burst int `yaml:"burst,omitempty"`
	// Drop drops entries over the limit (reason "limit") instead of waiting, which slows
	// the sources down (default false: wait).
	Drop bool `yaml:"drop,omitempty"`
	// ByLabelName gives each value of this stream label its own limit; entries without the
	// label are not limited.
	ByLabelName string `yaml:"by_label_name,omitempty"`
	// MaxDistinctLabels bounds the per-value limiters of ByLabelName (default 10000); when
	// more values appear, every limiter starts afresh.
	MaxDistinctLabels int `yaml:"max_distinct_labels,omitempty"`
}

type limitStage struct {
	limit   rate.Limit
	burst   int
	drop    bool
	byLabel model.LabelName
	max     int

	global *rate.Limiter // when byLabel is empty

	mu       sync.Mutex
	byValues map[model.LabelValue]*rate.Limiter
}

func (c *LimitConfig) compile() (stage, error) {
	var errs []error
	if !(c.Rate > 0) || math.IsInf(c.Rate, 0) {
		errs = append(errs, pipeline.Field("rate", "must be a positive number of entries per second, got %v", c.Rate))
	}
	if c.Burst < 0 {
		errs = append(errs, pipeline.Field("burst", "must not be negative, got %d", c.Burst))
	}
	if c.MaxDistinctLabels < 0 {
		errs = append(errs, pipeline.Field("max_distinct_labels", "must not be negative, got %d", c.MaxDistinctLabels))
	}
	if c.ByLabelName != "" {
		if err := validLabelName("by_label_name", c.ByLabelName); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	st := &limitStage{
		limit:   rate.Limit(c.Rate),
		burst:   c.Burst,
		drop:    c.Drop,
		byLabel: model.LabelName(c.ByLabelName),
		max:     c.MaxDistinctLabels,
	}
	if st.burst == 0 {
		st.burst = max(1, int(math.Ceil(c.Rate)))
	}
	if st.max == 0 {
		st.max = 10000
	}
	if st.byLabel == "" {
		st.global = rate.NewLimiter(st.limit, st.burst)
	} else {
		st.byValues = map[model.LabelValue]*rate.Limiter{}
	}
	return st, nil
}

func (st *limitStage) limiter(s *entryState) *rate.Limiter {
	if st.global != nil {
		return st.global
	}
	v, ok := s.label(st.byLabel)
	if !ok {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	l := st.byValues[v]
	if l == nil {
		if len(st.byValues) >= st.max {
			clear(st.byValues)
		}
		l = rate.NewLimiter(st.limit, st.burst)
		st.byValues[model.LabelValue(string([]byte(v)))] = l // v may point into a line
	}
	return l
}

func (st *limitStage) process(ctx context.Context, s *entryState) bool {
	l := st.limiter(s)
	if l == nil {
		return true
	}
	if st.drop {
		if !l.Allow() {
			s.dropReason = "limit"
			return false
		}
		return true
	}
	if err := l.Wait(ctx); err != nil {
		s.err = err
		return false
	}
	return true
}
