package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// A DaemonSet pod deleted with no grace period (kubectl delete --force, a node drain tool, a
// controller) is replaced at once, while the kubelet still stops the old container, which is
// given at least 2 s after SIGTERM to flush. For that moment two agents share the node's
// storage path and host ports. The new one used to fail to bind the HTTP port, exit, and sit
// in CrashLoopBackOff for 10 s (found on the real node: the lifecycle test's agent kills), and
// had it bound, it would have read positions and the WAL while the old one still wrote them.
// So an agent first takes an exclusive lock on its storage path, waiting while another
// process holds it, and binds its port after: once the lock is its, the old process is gone.

// lockFileName is the lock file in the storage path.
const lockFileName = ".lock"

// lockRetry is how often a held lock or a taken port is tried again.
const lockRetry = 250 * time.Millisecond

// lockStorage takes the storage path's lock, waiting up to wait while another process holds
// it. The lock is the kernel's (flock): it goes with the process, however it ends, and
// release gives it back earlier.
func lockStorage(ctx context.Context, dir string, wait time.Duration, logger *slog.Logger) (release func(), err error) {
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("storage lock: %w", err)
	}
	err = retryWhile(ctx, wait, func() error { return flock(f) }, isLocked, func() {
		logger.Warn("the storage path is locked by another sonde process (the agent being replaced is still stopping?); waiting for it",
			"lock", path, "wait", wait)
	})
	if err != nil {
		f.Close()
		if isLocked(err) {
			return nil, fmt.Errorf("storage path %s is in use by another sonde process (its lock %s stayed held for %s): give each agent a storage path of its own", dir, path, wait)
		}
		return nil, fmt.Errorf("storage lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// listenWaiting binds addr, waiting up to wait while the address is in use.
func listenWaiting(ctx context.Context, addr string, wait time.Duration, logger *slog.Logger) (net.Listener, error) {
	var ln net.Listener
	err := retryWhile(ctx, wait, func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	}, func(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }, func() {
		logger.Warn("the HTTP server's address is in use; waiting for it", "listen", addr, "wait", wait)
	})
	return ln, err
}

// retryWhile calls try until it succeeds, fails with an error that is not transient, ctx
// ends, or wait has passed; waiting is called once, at the first transient error.
func retryWhile(ctx context.Context, wait time.Duration, try func() error, transient func(error) bool, waiting func()) error {
	deadline := time.Now().Add(wait)
	for first := true; ; first = false {
		err := try()
		if err == nil || !transient(err) || !time.Now().Before(deadline) {
			return err
		}
		if first {
			waiting()
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(lockRetry):
		}
	}
}
