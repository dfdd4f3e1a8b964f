# sonde — build, run, test, benchmark.
# Real backends used by the tests are installed by `make deps` (called by `make test`);
# built binaries are cached outside the clone in $(SONDE_CACHE)/bin/<name>-<version>.

GO              ?= go
VERSION         ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS         := -s -w -X main.version=$(VERSION)
SONDE_CACHE     ?= $(HOME)/.cache/sonde
BIN             := bin
SUDO            := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
VMAGENT_VERSION ?= v1.129.1
GOTEST_FLAGS    ?= -count=1 -timeout 30m
ARGS            ?=

export SONDE_CACHE

.PHONY: all build run test test-unit deps deps-deb deps-loki deps-kube-apiserver deps-tempo deps-helm deps-jaeger test-full manifests bench bench-deps lint fmt clean gpu-check

all: build

## build: compile bin/sonde
build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/sonde ./cmd/sonde

## run: run sonde with the built-in preset (pass ARGS="--prometheus-url http://127.0.0.1:9090")
run: build
	./$(BIN)/sonde run --storage.path $(BIN)/data $(ARGS)

DEB_PACKAGES    := prometheus etcd-server chromium chromium-driver
LOKI_VERSION    ?= v3.7.8
KUBE_VERSION    ?= v1.37.2
TEMPO_VERSION   ?= v1.5.1-0.20251008140505-607c7fb69662
HELM_VERSION    ?= v3.22.0
JAEGER_VERSION  ?= v1.76.0

## deps: install every real backend the tests use: Debian packages, and Go-built backends
## cached in $(SONDE_CACHE)/bin (built once, minutes each when cold)
deps: deps-deb deps-loki deps-kube-apiserver deps-tempo deps-helm

deps-deb:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo ">> installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@prometheus --version 2>&1 | head -1

deps-loki:
	@testdata/backends/gobuild.sh loki github.com/grafana/loki/v3 $(LOKI_VERSION) cmd/loki github.com/grafana/loki/pkg/push

deps-kube-apiserver:
	@testdata/backends/kube-apiserver.sh $(KUBE_VERSION)

deps-tempo:
	@testdata/backends/tempo.sh $(TEMPO_VERSION)

## deps-jaeger: Jaeger v2 for `make test-full` ($(SONDE_CACHE)/bin/jaeger-$(JAEGER_VERSION))
deps-jaeger:
	@testdata/backends/gobuild.sh jaeger github.com/jaegertracing/jaeger $(JAEGER_VERSION) ./cmd/jaeger

## deps-helm: helm, for the chart's tests and `make manifests` ($(SONDE_CACHE)/bin/helm-$(HELM_VERSION))
deps-helm:
	@deploy/deploytest/install-helm.sh $(HELM_VERSION)

## manifests: regenerate what deploy/ derives from other files (the chart's renderings of the
## presets, its copy of deploy/dashboards, deploy/manifests); the tests fail while any is stale
manifests: deps-helm
	$(GO) test ./deploy/deploytest -run '^TestGenerated$$' -count=1 -update

## test: install backends, then run every test (unit, component, end to end)
test: deps
	$(GO) test $(GOTEST_FLAGS) ./...

## test-full: every test, and those that need more backends (build tag full: Jaeger)
test-full: deps deps-jaeger
	$(GO) test $(GOTEST_FLAGS) -tags full ./...

## test-unit: tests without rebuilding deps
test-unit:
	$(GO) test $(GOTEST_FLAGS) -short ./...

PROMTAIL_VERSION ?= v3.5.0
OTELCOL_VERSION  ?= v0.162.0

## bench-deps: build the benchmark-only peers (vmagent, Promtail, an OpenTelemetry collector) into the cache
bench-deps: deps
	@./bench/build-vmagent.sh $(VMAGENT_VERSION)
	@testdata/backends/gobuild.sh promtail github.com/grafana/loki/v3 $(PROMTAIL_VERSION) clients/cmd/promtail github.com/grafana/loki/pkg/push
	@./bench/build-otelcol.sh $(OTELCOL_VERSION)

## bench: micro-benchmarks and the side-by-side comparisons (metrics: Prometheus agent, vmagent; logs: Promtail; OTLP: OpenTelemetry collector)
bench: build bench-deps
	$(GO) test -run '^$$' -bench . -benchmem ./pipeline/... ./components/... ./exporters/...
	./bench/compare.sh
	PROMTAIL_VERSION=$(PROMTAIL_VERSION) LOKI_VERSION=$(LOKI_VERSION) ./bench/compare-logs.sh
	OTELCOL_VERSION=$(OTELCOL_VERSION) ./bench/compare-otlp.sh

## gpu-check: read this machine's NVIDIA GPUs once through NVML and report what they support (not a CI test)
gpu-check:
	$(GO) run ./cmd/gpucheck

## lint: formatting and vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN)
