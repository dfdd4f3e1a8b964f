package remotewrite

import (
	"net/http"
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
		{now.Add(48 * time.Hour).Format(http.TimeFormat), maxRetryAfter},
		{"soon", 0},
	} {
		t.Run(tc.in, func(t *testing.T) {
			require.Equal(t, tc.want, parseRetryAfter(tc.in, now))
		})
	}
}

func TestBackoffGrowsWithinBounds(t *testing.T) {
	minB, maxB := 30*time.Millisecond, 5*time.Second
	for range 100 {
		prev := time.Duration(0)
		for attempt := range 100 {
			d := backoff(attempt, minB, maxB)
			require.GreaterOrEqual(t, d, minB)
			require.LessOrEqual(t, d, maxB)
			if attempt < 63 && minB <= (maxB/2)>>attempt { // below the cap each delay is at least the previous one
				require.GreaterOrEqual(t, d, prev, "attempt %d", attempt)
			}
			prev = d
		}
	}
	require.Equal(t, time.Second, backoff(3, time.Second, time.Second))
}

func TestRetryableStatuses(t *testing.T) {
	for status, want := range map[int]bool{0: true, 500: true, 503: true, 429: true, 400: false, 401: false, 404: false, 413: false, 300: false} {
		require.Equal(t, want, sendResult{status: status}.retryable(), "status %d", status)
	}
}
