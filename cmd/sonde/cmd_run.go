package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"k8s.io/klog/v2"

	"github.com/sondehq/sonde/config"
	"github.com/sondehq/sonde/internal/kube"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/procmem"
	"github.com/sondehq/sonde/pipeline/server"
)

func runCmd(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("sonde run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var src sourceFlags
	src.register(fs)
	src.registerServerListen(fs)
	storagePath := fs.String("storage.path", envOr("SONDE_STORAGE_PATH", "data"), "directory for write-ahead logs and positions (env SONDE_STORAGE_PATH)")
	shutdownFlag := fs.String("shutdown.timeout", envOr("SONDE_SHUTDOWN_TIMEOUT", pipeline.DefaultShutdownTimeout.String()),
		"budget for stopping at SIGTERM: sources stop, then every sink flushes in parallel; what is not sent by then stays on disk for the next start. Keep it below the pod's grace period (env SONDE_SHUTDOWN_TIMEOUT)")
	lockFlag := fs.String("storage.lock-timeout", envOr("SONDE_STORAGE_LOCK_TIMEOUT", "1m"),
		"how long to wait at start-up while another sonde process (the agent being replaced) holds the storage path or the HTTP port; keep it above the pod's grace period (env SONDE_STORAGE_LOCK_TIMEOUT)")
	logLevel := fs.String("log.level", "info", "log level: debug, info, warn, error")
	logFormat := fs.String("log.format", "logfmt", "log format: logfmt or json")
	releasePages := fs.Bool("memory.release-startup-pages", envBool("SONDE_RELEASE_STARTUP_PAGES", true),
		"2 s and 15 s after start-up and after each reload, give the kernel back the executable's pages that only start-up touched (env SONDE_RELEASE_STARTUP_PAGES)")
	memRatioFlag := fs.String("memory.limit-ratio", envOr("SONDE_MEMORY_LIMIT_RATIO", "0.9"),
		"soft memory limit for the Go runtime as a fraction of the container's memory limit (cgroup), so the garbage collector works harder instead of the pod being OOM-killed; 0 turns it off; GOMEMLIMIT, when set, wins (env SONDE_MEMORY_LIMIT_RATIO)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	memRatio, err := strconv.ParseFloat(*memRatioFlag, 64)
	if err != nil || memRatio < 0 || memRatio > 1 {
		fmt.Fprintf(stderr, "--memory.limit-ratio (or SONDE_MEMORY_LIMIT_RATIO) %q: want a fraction between 0 and 1, such as 0.9\n", *memRatioFlag)
		return 2
	}
	logger, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	shutdown, err := time.ParseDuration(*shutdownFlag)
	if err != nil || shutdown <= 0 {
		fmt.Fprintf(stderr, "--shutdown.timeout (or SONDE_SHUTDOWN_TIMEOUT) %q: want a positive duration such as 25s\n", *shutdownFlag)
		return 2
	}
	setGCPercent()
	setMemoryLimit(memRatio, logger)
	lockWait, err := time.ParseDuration(*lockFlag)
	if err != nil || lockWait < 0 {
		fmt.Fprintf(stderr, "--storage.lock-timeout (or SONDE_STORAGE_LOCK_TIMEOUT) %q: want a duration such as 1m\n", *lockFlag)
		return 2
	}
	if err := runAgent(src, *storagePath, src.serverListen, *releasePages, shutdown, lockWait, logger); err != nil {
		logger.Error("sonde stopped with an error", "err", err)
		return 1
	}
	return 0
}

func runAgent(src sourceFlags, storagePath, listen string, releasePages bool, shutdown, lockWait time.Duration, logger *slog.Logger) error {
	reg, err := registry()
	if err != nil {
		return err
	}
	klog.SetSlogLogger(logger.With("logger", "client-go"))
	load, err := src.loader(reg, logger)
	if err != nil {
		return err
	}
	// Validate before binding ports or touching the storage directory.
	if _, _, err := load(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	if storagePath, err = filepath.Abs(storagePath); err != nil {
		return err
	}
	if err := os.MkdirAll(storagePath, 0o750); err != nil {
		return fmt.Errorf("storage path: %w", err)
	}
	// The agent being replaced stops within its grace period (then the kubelet kills it):
	// wait for its lock and port (see storagelock.go).
	sigCtx, stopWaiting := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	unlock, err := lockStorage(sigCtx, storagePath, lockWait, logger)
	if err != nil {
		stopWaiting()
		return err
	}
	defer unlock()
	ln, err := listenWaiting(sigCtx, listen, lockWait, logger)
	stopWaiting()
	if err != nil {
		return fmt.Errorf("HTTP server: %w", err)
	}

	promReg := prometheus.NewRegistry()
	promReg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sonde_build_info", Help: "sonde's version; always 1.", ConstLabels: prometheus.Labels{"version": version},
		}, func() float64 { return 1 }),
	)
	ctrl := pipeline.NewController(pipeline.ControllerOptions{
		Registry:        reg,
		Logger:          logger,
		Kube:            kube.NewCache(logger),
		Registerer:      promReg,
		DataPath:        storagePath,
		ServerAddr:      loopbackAddr(ln.Addr()),
		ShutdownTimeout: shutdown,
	})
	reloader := pipeline.NewReloader(ctrl, load, promReg)
	srv := server.New(ctrl, reloader, promReg, logger, version)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srvCtx, stopServer := context.WithCancel(context.Background())
	defer stopServer()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(srvCtx, ln); err != nil {
			logger.Error("HTTP server failed", "err", err)
			stop()
		}
	}()
	ctrlDone := make(chan struct{})
	go func() { ctrl.Run(ctx); close(ctrlDone) }()

	if err := reloader.Reload("startup"); err != nil {
		logger.Error("starting the graph failed", "err", err)
	}
	logger.Info("sonde started", "version", version, "listen", ln.Addr().String(), "storage_path", storagePath,
		"components", len(ctrl.Components()))
	settled := func() {}
	if releasePages {
		settled = releaseAfterSettling(ctx, logger)
		settled()
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := func(trigger string) {
		if err := reloader.Reload(trigger); err != nil {
			logger.Error("configuration reload failed; keeping the running graph", "trigger", trigger, "err", err)
			return
		}
		logger.Info("configuration reloaded", "trigger", trigger)
		settled()
	}
	if src.configFile != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			config.Watch(ctx, src.configFile, 10*time.Second, logger, func() { reload("file change") })
		}()
	}
loop:
	for {
		select {
		case <-hup:
			reload("SIGHUP")
		case <-ctx.Done():
			break loop
		}
	}
	logger.Info("shutting down: stopping sources first, then flushing queues", "budget", shutdown)
	stopping := time.Now()
	<-ctrlDone
	stopServer()
	wg.Wait()
	logger.Info("sonde stopped", "took", time.Since(stopping).Round(time.Millisecond))
	return nil
}

// releaseAfterSettling returns a function that (re)arms two timers: 2 s after the last call
// (the graph has started: package initialisers and config loading are behind) and 15 s
// after it (first scrapes, informer syncs and connections are behind too), the pages of
// the executable that only start-up or the last reload touched are handed back to the
// kernel (see pipeline/procmem). Pages still in use fault back in.
func releaseAfterSettling(ctx context.Context, logger *slog.Logger) func() {
	release := func() {
		if ctx.Err() != nil {
			return
		}
		res, err := procmem.Release()
		if err != nil {
			logger.Debug("could not release start-up pages", "err", err)
			return
		}
		logger.Debug("released the executable's start-up pages", "ranges", res.Ranges,
			"rss_before_bytes", res.RSSBefore, "rss_after_bytes", res.RSSAfter)
	}
	delays := []time.Duration{2 * time.Second, 15 * time.Second}
	timers := make([]*time.Timer, len(delays))
	for i := range delays {
		timers[i] = time.AfterFunc(time.Hour, release)
		timers[i].Stop()
	}
	return func() {
		for i, d := range delays {
			timers[i].Reset(d)
		}
	}
}

// loopbackAddr is how in-process components reach the HTTP server: a wildcard listen
// address is reached over loopback.
func loopbackAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	ip := tcp.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(tcp.Port))
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

// envBool reads a boolean environment variable (strconv.ParseBool); unset, empty or
// unparsable gives def.
func envBool(name string, def bool) bool {
	if b, err := strconv.ParseBool(os.Getenv(name)); err == nil {
		return b
	}
	return def
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log.level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "logfmt", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log.format: want logfmt or json, got %q", format)
	}
}
