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

.PHONY: all build run test test-unit deps bench bench-deps lint fmt clean gpu-check

all: build

## build: compile bin/sonde
build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/sonde ./cmd/sonde

## run: run sonde with the built-in preset (pass ARGS="--prometheus-url http://127.0.0.1:9090")
run: build
	./$(BIN)/sonde run --storage.path $(BIN)/data $(ARGS)

## deps: install every real backend the tests use (Prometheus from Debian)
deps:
	@command -v prometheus >/dev/null 2>&1 || { \
	  echo ">> installing Debian package prometheus"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
	@prometheus --version 2>&1 | head -1

## test: install backends, then run every test (unit, component, end to end)
test: deps
	$(GO) test $(GOTEST_FLAGS) ./...

## test-unit: tests without rebuilding deps
test-unit:
	$(GO) test $(GOTEST_FLAGS) -short ./...

## bench-deps: build the benchmark-only peers (vmagent) into the cache
bench-deps: deps
	@./bench/build-vmagent.sh $(VMAGENT_VERSION)

## bench: micro-benchmarks and the side-by-side comparison with Prometheus agent and vmagent
bench: build bench-deps
	$(GO) test -run '^$$' -bench . -benchmem ./pipeline/... ./components/... ./exporters/...
	./bench/compare.sh

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
