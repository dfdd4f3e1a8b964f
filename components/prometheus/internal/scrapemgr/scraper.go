package scrapemgr

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	promscrape "github.com/prometheus/prometheus/scrape"
)

var errBodySizeLimit = errors.New("body size limit exceeded")

// scraper fetches one target's exposition over HTTP, as Prometheus does: the Accept header
// of the job's scrape_protocols, gzip when enable_compression, the timeout header, and
// body_size_limit on the uncompressed body.
type scraper struct {
	target        *promscrape.Target
	client        *http.Client
	req           *http.Request
	timeout       time.Duration
	bodySizeLimit int64
	accept        string
	encoding      string
	gzipr         *gzip.Reader
	buf           *bufio.Reader
	m             *metrics
}

func newScraper(t *promscrape.Target, client *http.Client, cfg *config.ScrapeConfig, timeout time.Duration, m *metrics) *scraper {
	escaping, _ := config.ToEscapingScheme(cfg.MetricNameEscapingScheme, cfg.MetricNameValidationScheme)
	s := &scraper{
		target: t, client: client, timeout: timeout, m: m,
		bodySizeLimit: int64(cfg.BodySizeLimit),
		accept:        acceptHeader(cfg.ScrapeProtocols, escaping),
		encoding:      "identity",
	}
	if cfg.EnableCompression {
		s.encoding = "gzip"
	}
	if s.bodySizeLimit <= 0 {
		s.bodySizeLimit = math.MaxInt64
	}
	return s
}

// acceptHeader lists the protocols, preferred first, with falling weights, then */*.
func acceptHeader(sps []config.ScrapeProtocol, escaping model.EscapingScheme) string {
	vals := make([]string, 0, len(sps)+1)
	weight := len(config.ScrapeProtocolsHeaders) + 1
	for _, sp := range sps {
		val := config.ScrapeProtocolsHeaders[sp]
		if sp == config.PrometheusText1_0_0 || sp == config.OpenMetricsText1_0_0 || sp == config.OpenMetricsText2_0_0 {
			val += ";" + model.EscapingKey + "=" + escaping.String()
		}
		vals = append(vals, fmt.Sprintf("%s;q=0.%d", val, weight))
		weight--
	}
	vals = append(vals, fmt.Sprintf("*/*;q=0.%d", weight))
	return strings.Join(vals, ",")
}

// scrape writes the uncompressed body to w and returns its Content-Type.
func (s *scraper) scrape(ctx context.Context, w io.Writer) (string, error) {
	if s.req == nil {
		req, err := http.NewRequest(http.MethodGet, s.target.URL().String(), http.NoBody)
		if err != nil {
			return "", err
		}
		req.Header.Add("Accept", s.accept)
		req.Header.Add("Accept-Encoding", s.encoding)
		req.Header.Set("User-Agent", promscrape.UserAgent)
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", strconv.FormatFloat(s.timeout.Seconds(), 'f', -1, 64))
		s.req = req
	}
	resp, err := s.client.Do(s.req.WithContext(ctx))
	if err != nil {
		return "", err
	}
	defer func() {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("server returned HTTP status %s", resp.Status)
	}
	var r io.Reader = resp.Body
	if resp.Header.Get("Content-Encoding") == "gzip" {
		if s.gzipr == nil {
			s.buf = bufio.NewReader(resp.Body)
			if s.gzipr, err = gzip.NewReader(s.buf); err != nil {
				return "", err
			}
		} else {
			s.buf.Reset(resp.Body)
			if err = s.gzipr.Reset(s.buf); err != nil {
				return "", err
			}
		}
		defer s.gzipr.Close()
		r = s.gzipr
	}
	n, err := io.Copy(w, io.LimitReader(r, s.bodySizeLimit))
	if err != nil {
		return "", err
	}
	if n >= s.bodySizeLimit {
		s.m.bodySizeLimit.Inc()
		return "", errBodySizeLimit
	}
	return resp.Header.Get("Content-Type"), nil
}
