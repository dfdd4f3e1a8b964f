package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// serveTargets serves n targets of m series each on consecutive ports from base until ctx
// ends. It binds every port before serving any, so a clash fails the whole start. Port 0
// (any free port) is allowed for a single target.
//
// With churnFraction > 0, that fraction of every target's series is replaced every churnEvery.
func serveTargets(ctx context.Context, base string, n, m int, seed uint64, churnFraction float64, churnEvery time.Duration, logger *slog.Logger) error {
	host, portStr, err := net.SplitHostPort(base)
	if err != nil {
		return fmt.Errorf("--listen-base: %w", err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || (port == 0 && n > 1) || port+n-1 > 65535 {
		return fmt.Errorf("--listen-base: ports %s..%d are not all valid", portStr, port+n-1)
	}
	lns := make([]net.Listener, 0, n)
	for i := range n {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port+i)))
		if err != nil {
			for _, l := range lns {
				_ = l.Close()
			}
			return err
		}
		lns = append(lns, ln)
	}

	targets := make([]*target, n)
	servers := make([]*http.Server, n)
	errc := make(chan error, n)
	var wg sync.WaitGroup
	for i, ln := range lns {
		targets[i] = newTarget(m, seed+uint64(i))
		if churnFraction > 0 {
			targets[i].churn = &churn{fraction: churnFraction, every: churnEvery, start: time.Now(), now: time.Now}
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", targets[i])
		servers[i] = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		wg.Go(func() {
			if err := servers[i].Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		})
	}
	logger.Info("serving targets", "first", lns[0].Addr().String(), "last", lns[n-1].Addr().String(),
		"targets", n, "series_per_target", m, "active_series", n*m, "churn", churnFraction, "churn_every", churnEvery)

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range servers {
		_ = srv.Shutdown(shutdownCtx)
	}
	wg.Wait()
	var scrapes uint64
	for _, t := range targets {
		scrapes += t.scrapes.Load()
	}
	logger.Info("targets stopped", "scrapes", scrapes)
	return serveErr
}
