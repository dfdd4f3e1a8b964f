package httppush

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"5", 5 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"0", 0},
		{"-3", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"999999999", maxRetryAfter},
		{"99999999999999999999", 0}, // overflows int64 and is no date: invalid
		{now.Add(48 * time.Hour).Format(http.TimeFormat), maxRetryAfter},
		{"soon", 0},
	} {
		t.Run(tc.in, func(t *testing.T) {
			require.Equal(t, tc.want, parseRetryAfter(tc.in, now))
		})
	}
}

func TestRetryable(t *testing.T) {
	for _, tc := range []struct {
		status int
		want   bool
	}{
		{0, true}, // no response: a transport error or a timeout
		{500, true},
		{502, true},
		{503, true},
		{504, true},
		{429, true},
		{400, false},
		{401, false},
		{403, false},
		{404, false},
		{413, false},
		{418, false},
		{300, false},
	} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			require.Equal(t, tc.want, Result{Status: tc.status}.Retryable())
		})
	}
}
