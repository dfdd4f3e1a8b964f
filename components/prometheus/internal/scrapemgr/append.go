package scrapemgr

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"
	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
)

var (
	errSampleLimit = errors.New("sample limit exceeded")
	errBucketLimit = errors.New("histogram bucket limit exceeded")
	errNameMissing = errors.New("missing metric name (__name__ label)")
	staleNaN       = math.Float64frombits(value.StaleNaN)
	rejectEarlyOOO = storage.AppendOptions{DiscardOutOfOrder: true}
	maxAheadTime   = 10 * time.Minute // samples further in the future are out of bounds
	// Prometheus' duplicate error is a struct value: converted to error once, not per use.
	errDupTimestamp error = storage.ErrDuplicateSampleForTimestamp
)

// appendResult are the counts of one scrape's append, for the report series.
type appendResult struct {
	total, added, seriesAdded int
}

// appendBody parses one scrape's body and appends its samples to app, then staleness
// markers for the series the previous scrape exposed and this one does not. An empty body
// (a failed scrape) appends only the staleness markers. It follows Prometheus' scrape loop
// rule for rule (limits, honor_timestamps, duplicates, metadata, exemplars, start
// timestamps); what differs is the cache (see seriesCache).
func (l *loop) appendBody(app storage.Appender, b []byte, contentType string, ts time.Time) (res appendResult, err error) {
	c := l.cache
	defTime := timestamp.FromTime(ts)
	if len(b) == 0 {
		err = l.appendStale(app, defTime)
		c.iterDone(false)
		return res, err
	}
	p, err := textparse.New(b, contentType, nil, l.parserOptions)
	if p == nil {
		l.logger.Error("Failed to determine correct type of scrape target.", "content_type", contentType,
			"fallback_media_type", l.cfg.ScrapeFallbackProtocol, "err", err)
		return res, err
	}
	if _, ok := p.(*textparse.PromParser); ok {
		p = newTextParser(b, c.expected) // the same grammar, cheaper for a target's known series
	}
	if err != nil {
		l.logger.Debug("Invalid content type on scrape, using fallback setting.", "content_type", contentType,
			"fallback_media_type", l.cfg.ScrapeFallbackProtocol, "err", err)
	}
	var (
		sampleLimitErr, bucketLimitErr error
		lset                           labels.Labels
		ex                             exemplar.Exemplar
		exemplars                      = l.exemplars[:0]
		lastMeta                       *metaEntry
		lastFamily                     []byte
		appended                       int // samples counted against sample_limit
		maxTime                        = timestamp.FromTime(time.Now().Add(maxAheadTime))
		errs                           appendErrors
	)
	defer func() {
		l.exemplars = exemplars[:0]
		if err == nil {
			c.iterDone(true)
		}
	}()

	for {
		var et textparse.Entry
		if et, err = p.Next(); err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			break
		}
		var (
			isHistogram bool
			met         []byte
			parsedTS    *int64
			v           float64
			h           *histogram.Histogram
			fh          *histogram.FloatHistogram
		)
		switch et {
		case textparse.EntryType:
			name, typ := p.Type()
			lastFamily, lastMeta = name, c.meta.set(name, c.iter, func(e *metaEntry) bool {
				changed := e.Type != typ
				e.Type = typ
				return changed
			})
			continue
		case textparse.EntryHelp:
			name, help := p.Help()
			lastFamily, lastMeta = name, c.meta.set(name, c.iter, func(e *metaEntry) bool { return setText(&e.Help, help) })
			continue
		case textparse.EntryUnit:
			name, unit := p.Unit()
			lastFamily, lastMeta = name, c.meta.set(name, c.iter, func(e *metaEntry) bool { return setText(&e.Unit, unit) })
			continue
		case textparse.EntryComment:
			continue
		case textparse.EntryHistogram:
			isHistogram = true
			met, parsedTS, h, fh = p.Histogram()
		default:
			met, parsedTS, v = p.Series()
		}
		res.total++
		t := defTime
		if !l.cfg.HonorTimestamps {
			parsedTS = nil
		}
		if parsedTS != nil {
			t = *parsedTS
		}

		e, duplicate := c.get(met)
		if e != nil && e.dropped() {
			continue
		}
		cached := e != nil
		if cached {
			lset = e.lset
		} else {
			p.Labels(&lset)
			lset = l.mutateSampleLabels(lset)
			if lset.IsEmpty() {
				c.add(met, lset, 0)
				continue
			}
			if err = l.checkLabels(lset); err != nil {
				break
			}
		}
		var ref storage.SeriesRef
		if cached {
			ref = e.ref
		}

		var appErr error
		switch appended++; {
		case duplicate && parsedTS == nil:
			appended--
			appErr = errDupTimestamp
		case l.sampleLimit > 0 && appended > l.sampleLimit:
			appErr = errSampleLimit
		case !isHistogram && t > maxTime:
			appErr = storage.ErrOutOfBounds
		default:
			if l.startTimestamps {
				if st := p.StartTimestamp(); st != 0 {
					var stErr error
					if isHistogram {
						_, stErr = app.AppendHistogramSTZeroSample(ref, lset, t, st, h, fh)
					} else {
						_, stErr = app.AppendSTZeroSample(ref, lset, t, st)
					}
					if stErr != nil && !errors.Is(stErr, storage.ErrOutOfOrderST) {
						l.logger.Debug("Error when appending ST in scrape loop", "series", string(met), "st", st, "t", t, "err", stErr)
					}
				}
			}
			if isHistogram {
				if appErr = l.limitHistogram(h, fh); appErr == nil {
					ref, appErr = app.AppendHistogram(ref, lset, t, h, fh)
				}
			} else {
				ref, appErr = app.Append(ref, lset, t, v)
			}
		}

		sampleAdded := appErr == nil
		if appErr != nil {
			switch {
			case errors.Is(appErr, errSampleLimit):
				sampleLimitErr = fmt.Errorf("%w (limit: %d)", errSampleLimit, l.sampleLimit)
			case errors.Is(appErr, errBucketLimit):
				bucketLimitErr = appErr
			case errors.Is(appErr, storage.ErrOutOfOrderSample):
				errs.outOfOrder++
				l.m.outOfOrder.Inc()
			case errors.Is(appErr, errDupTimestamp):
				errs.duplicates++
				l.m.duplicate.Inc()
			case errors.Is(appErr, storage.ErrOutOfBounds):
				errs.outOfBounds++
				l.m.outOfBounds.Inc()
			default:
				err = appErr
			}
			if err != nil {
				break
			}
		}
		if sampleAdded {
			if cached {
				if ref != 0 {
					e.ref = ref
				}
			} else {
				e = c.add(met, lset, ref)
				if sampleLimitErr == nil && bucketLimitErr == nil {
					res.seriesAdded++
				}
			}
			if parsedTS == nil || l.cfg.TrackTimestampsStaleness {
				c.track(e)
			}
		}
		res.added++

		exemplars = exemplars[:0]
		for p.Exemplar(&ex) {
			if !ex.HasTs {
				if isHistogram {
					// Prometheus drops native histograms' exemplars without a timestamp.
					ex = exemplar.Exemplar{}
					continue
				}
				ex.Ts = t
			}
			exemplars = append(exemplars, ex)
			ex = exemplar.Exemplar{}
		}
		if len(exemplars) > 0 {
			slices.SortFunc(exemplars, exemplar.Compare)
			for _, x := range exemplars {
				if _, xErr := app.AppendExemplar(ref, lset, x); xErr != nil && !errors.Is(xErr, storage.ErrOutOfOrderExemplar) {
					l.logger.Debug("Error while adding exemplar", "exemplar", fmt.Sprintf("%+v", x), "err", xErr)
				}
			}
		}

		if l.appendMetadata && lastMeta != nil && (!cached || lastMeta.lastIterChange == c.iter) &&
			partOfFamily(lset.Get(model.MetricNameLabel), lastFamily, lastMeta.Type) {
			if _, mErr := app.UpdateMetadata(ref, lset, lastMeta.Metadata); mErr != nil {
				l.logger.Debug("Error when appending metadata in scrape loop", "metadata", fmt.Sprintf("%+v", lastMeta.Metadata), "err", mErr)
			}
		}
	}
	if sampleLimitErr != nil {
		if err == nil {
			err = sampleLimitErr
		}
		l.m.sampleLimit.Inc()
	}
	if bucketLimitErr != nil {
		if err == nil {
			err = bucketLimitErr
		}
		l.m.bucketLimit.Inc()
	}
	errs.log(l)
	if err == nil {
		err = l.appendStale(app, defTime)
	}
	return res, err
}

// setText sets *field to v and reports whether it changed (no copy when it did not).
func setText(field *string, v []byte) bool {
	if *field == string(v) {
		return false
	}
	*field = string(v)
	return true
}

// appendErrors count the samples of one scrape the destination refused.
type appendErrors struct{ outOfOrder, duplicates, outOfBounds int }

func (e appendErrors) log(l *loop) {
	if e.outOfOrder > 0 {
		l.logger.Warn("Error on ingesting out-of-order samples", "num_dropped", e.outOfOrder)
	}
	if e.duplicates > 0 {
		l.logger.Warn("Error on ingesting samples with different value but same timestamp", "num_dropped", e.duplicates)
	}
	if e.outOfBounds > 0 {
		l.logger.Warn("Error on ingesting samples that are too old or are too far into the future", "num_dropped", e.outOfBounds)
	}
}

// appendStale appends a staleness marker for every series the previous scrape exposed and
// this one did not. A marker the destination refuses as out of order or duplicate (the
// target came back under a new loop) is not an error.
func (l *loop) appendStale(app storage.Appender, t int64) (err error) {
	l.cache.eachStale(func(e *cacheEntry) bool {
		app.SetOptions(&rejectEarlyOOO)
		_, err = app.Append(e.ref, e.lset, t, staleNaN)
		app.SetOptions(nil)
		if errors.Is(err, storage.ErrOutOfOrderSample) || errors.Is(err, storage.ErrDuplicateSampleForTimestamp) {
			err = nil
		}
		return err == nil
	})
	return err
}

// checkLabels checks a new series' labels: a metric name, valid names, label limits.
func (l *loop) checkLabels(lset labels.Labels) error {
	if !lset.Has(model.MetricNameLabel) {
		return errNameMissing
	}
	if !lset.IsValid(l.cfg.MetricNameValidationScheme) {
		return fmt.Errorf("invalid metric name or label names: %s", lset.String())
	}
	if err := l.checkLabelLimits(lset); err != nil {
		l.m.labelLimit.Inc()
		return err
	}
	return nil
}

func (l *loop) checkLabelLimits(lset labels.Labels) error {
	cfg := l.cfg
	met := lset.Get(model.MetricNameLabel)
	if cfg.LabelLimit > 0 && lset.Len() > int(cfg.LabelLimit) {
		return fmt.Errorf("label_limit exceeded (metric: %.50s, number of labels: %d, limit: %d)", met, lset.Len(), cfg.LabelLimit)
	}
	if cfg.LabelNameLengthLimit == 0 && cfg.LabelValueLengthLimit == 0 {
		return nil
	}
	return lset.Validate(func(lb labels.Label) error {
		if n := cfg.LabelNameLengthLimit; n > 0 && len(lb.Name) > int(n) {
			return fmt.Errorf("label_name_length_limit exceeded (metric: %.50s, label name: %.50s, length: %d, limit: %d)", met, lb.Name, len(lb.Name), n)
		}
		if n := cfg.LabelValueLengthLimit; n > 0 && len(lb.Value) > int(n) {
			return fmt.Errorf("label_value_length_limit exceeded (metric: %.50s, label name: %.50s, value: %.50q, length: %d, limit: %d)", met, lb.Name, lb.Value, len(lb.Value), n)
		}
		return nil
	})
}

// limitHistogram applies native_histogram_bucket_limit and the schema that
// native_histogram_min_bucket_factor allows, reducing the resolution where it can.
func (l *loop) limitHistogram(h *histogram.Histogram, fh *histogram.FloatHistogram) error {
	schema, buckets := schemaAndBuckets(h, fh)
	reduce := func(to int32) error {
		if h != nil {
			return h.ReduceResolution(to)
		}
		return fh.ReduceResolution(to)
	}
	if limit := l.bucketLimit; limit > 0 && buckets > limit {
		if !histogram.IsExponentialSchema(schema) {
			return errBucketLimit
		}
		for ; buckets > limit; schema, buckets = schemaAndBuckets(h, fh) {
			if schema <= histogram.ExponentialSchemaMin {
				return errBucketLimit
			}
			if err := reduce(schema - 1); err != nil {
				return err
			}
		}
	}
	if histogram.IsExponentialSchemaReserved(schema) && schema > l.maxSchema {
		return reduce(l.maxSchema)
	}
	return nil
}

func schemaAndBuckets(h *histogram.Histogram, fh *histogram.FloatHistogram) (int32, int) {
	if h != nil {
		return h.Schema, len(h.PositiveBuckets) + len(h.NegativeBuckets)
	}
	return fh.Schema, len(fh.PositiveBuckets) + len(fh.NegativeBuckets)
}

// partOfFamily reports whether a series named name belongs to the metric family family of
// type typ (its metadata applies): broken or partial TYPE lines must not label other
// series.
func partOfFamily(name string, family []byte, typ model.MetricType) bool {
	fam := string(family)
	if len(name) < len(fam) || name[:len(fam)] != fam {
		return false
	}
	suffixes := familySuffixes[typ]
	if typ == model.MetricTypeCounter || typ == model.MetricTypeInfo {
		fam = trimSuffix(fam, suffixes[0])
	}
	for _, s := range suffixes {
		if len(name) > len(s) && name[len(name)-len(s):] == s {
			return name[:len(name)-len(s)] == fam
		}
	}
	return name == fam
}

// familySuffixes are the suffixes a series of a family of each type may add to its name.
var familySuffixes = map[model.MetricType][]string{
	model.MetricTypeCounter:        {"_total"},
	model.MetricTypeHistogram:      {"_bucket", "_sum", "_count"},
	model.MetricTypeGaugeHistogram: {"_bucket", "_gsum", "_gcount"},
	model.MetricTypeSummary:        {"_sum", "_count"},
	model.MetricTypeInfo:           {"_info"},
}

func trimSuffix(s, suffix string) string {
	if len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix {
		return s[:len(s)-len(suffix)]
	}
	return s
}
