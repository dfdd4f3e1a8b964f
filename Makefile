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

.PHONY: all build run docs test test-unit deps deps-deb deps-zincsearch deps-loki deps-prometheus3 deps-kube-apiserver deps-tempo deps-helm deps-jaeger deps-node deps-ksm deps-node-base node-up node-down test-full manifests bench bench-deps lint fmt clean gpu-check

all: build

## build: compile bin/sonde
build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/sonde ./cmd/sonde

## run: run sonde with the built-in preset (pass ARGS="--prometheus-url http://127.0.0.1:9090")
run: build
	./$(BIN)/sonde run --storage.path $(BIN)/data $(ARGS)

DEB_PACKAGES    := prometheus etcd-server chromium chromium-driver systemd-journal-remote
NODE_DEB_PACKAGES := containerd runc containernetworking-plugins iptables iproute2 debootstrap docker.io openssl curl jq
NODE_DIR        ?= /tmp/sonde-node
LOKI_VERSION    ?= v3.7.8
KUBE_VERSION    ?= v1.37.2
TEMPO_VERSION   ?= v1.5.1-0.20251008140505-607c7fb69662
HELM_VERSION    ?= v3.22.0
JAEGER_VERSION  ?= v1.76.0
ZINCSEARCH_VERSION ?= v0.4.10
KSM_VERSION     ?= v2.20.0

## deps: install every real backend the tests use: Debian packages, and Go-built backends
## cached in $(SONDE_CACHE)/bin (built once, minutes each when cold). The steps run
## DEPS_JOBS at a time: downloads (apt, debootstrap, modules) overlap the compiles.
DEPS_JOBS       ?= 3
deps:
	@$(MAKE) --no-print-directory -j$(DEPS_JOBS) deps-deb deps-loki deps-prometheus3 deps-kube-apiserver deps-tempo deps-helm deps-node deps-zincsearch

# apt_install: install those of the Debian packages $(1) that are missing. Services are not
# started (a policy-rc.d that says no, unless the host has one): docker.io's dockerd would
# otherwise come up with its bridge and iptables rules; the tests run their own daemons.
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo ">> installing Debian packages:$$missing"; \
	  policy=""; if [ ! -e /usr/sbin/policy-rc.d ]; then policy=1; \
	    printf '#!/bin/sh\nexit 101\n' | $(SUDO) tee /usr/sbin/policy-rc.d >/dev/null && $(SUDO) chmod 755 /usr/sbin/policy-rc.d; fi; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  rc=$$?; [ -z "$$policy" ] || $(SUDO) rm -f /usr/sbin/policy-rc.d; exit $$rc; \
	fi
endef

# One apt run for the backends' and the node's packages (two at once would fight over dpkg's lock).
deps-deb:
	$(call apt_install,$(DEB_PACKAGES) $(NODE_DEB_PACKAGES))
	@prometheus --version 2>&1 | head -1

deps-loki:
	@testdata/backends/gobuild.sh loki github.com/grafana/loki/v3 $(LOKI_VERSION) cmd/loki github.com/grafana/loki/pkg/push

## deps-prometheus3: Prometheus 3 for the remote write 2.0 tests
## ($(SONDE_CACHE)/bin/prometheus-$(PROMETHEUS3_VERSION)), built from the module go.mod
## requires (v0.3XX.Y is Prometheus v3.XX.Y) without the web UI's assets (the API is enough).
PROMETHEUS3_VERSION ?= $(shell $(GO) list -m -f '{{.Version}}' github.com/prometheus/prometheus)
deps-prometheus3:
	@testdata/backends/gobuild.sh prometheus github.com/prometheus/prometheus $(PROMETHEUS3_VERSION) cmd/prometheus >/dev/null

deps-kube-apiserver:
	@testdata/backends/kube-apiserver.sh $(KUBE_VERSION)

deps-tempo:
	@testdata/backends/tempo.sh $(TEMPO_VERSION)

## deps-zincsearch: ZincSearch, the Elasticsearch-API backend of elasticsearch.write's tests
## ($(SONDE_CACHE)/bin/zincsearch-$(ZINCSEARCH_VERSION), about 3 minutes cold)
deps-zincsearch:
	@testdata/backends/zincsearch.sh $(ZINCSEARCH_VERSION) >/dev/null

## deps-jaeger: Jaeger v2 for `make test-full` ($(SONDE_CACHE)/bin/jaeger-$(JAEGER_VERSION))
deps-jaeger:
	@testdata/backends/gobuild.sh jaeger github.com/jaegertracing/jaeger $(JAEGER_VERSION) ./cmd/jaeger

## deps-node: the real single-node Kubernetes of deploy/nodetest (testdata/node): Debian
## packages (containerd, runc, CNI plugins, iptables, debootstrap; docker.io builds sonde's
## image from the Dockerfile), the Kubernetes binaries, and the Debian base image tarball
## ($(SONDE_CACHE)/images, debootstrap, about 4 minutes once); kube-state-metrics for its demo
## workload (k8s.io/kube-state-metrics/v2, about 4 minutes cold)
deps-node: deps-deb deps-kube-apiserver deps-ksm deps-node-base

# Apart from deps-node, so that `make -j` builds them while the Kubernetes binaries compile.
deps-ksm:
	@testdata/backends/gobuild.sh kube-state-metrics k8s.io/kube-state-metrics/v2 $(KSM_VERSION) . >/dev/null

deps-node-base: deps-deb
	@$(SUDO) env SONDE_CACHE=$(SONDE_CACHE) testdata/node/image.sh base >/dev/null

## node-up: bring the test node up (state in $(NODE_DIR)) with sonde's image
## sonde.test/sonde:dev in it; KUBECONFIG=$(NODE_DIR)/kubeconfig. `make node-down` removes it.
node-up: deps-node deps-helm
	$(SUDO) env NODE_DIR=$(NODE_DIR) SONDE_CACHE=$(SONDE_CACHE) testdata/node/up.sh
	$(SUDO) env NODE_DIR=$(NODE_DIR) SONDE_CACHE=$(SONDE_CACHE) testdata/node/image.sh sonde

## node-down: tear the test node down and undo its every host change (also after a killed run)
node-down:
	$(SUDO) env NODE_DIR=$(NODE_DIR) SONDE_CACHE=$(SONDE_CACHE) testdata/node/down.sh

## deps-helm: helm, for the chart's tests and `make manifests` ($(SONDE_CACHE)/bin/helm-$(HELM_VERSION))
deps-helm:
	@deploy/deploytest/install-helm.sh $(HELM_VERSION)

## manifests: regenerate what deploy/ derives from other files (the chart's renderings of the
## presets, its copy of deploy/dashboards, deploy/manifests); the tests fail while any is stale
manifests: deps-helm
	$(GO) test ./deploy/deploytest -run '^TestGenerated$$' -count=1 -update

## docs: write docs/components/ again (a reference page per component type, from the doc
## comments of its arguments); TestComponentDocs fails while it is stale
docs:
	$(GO) test ./cmd/sonde -run '^TestComponentDocs$$' -count=1 -short -update-component-docs

## test: install backends, then run every test (unit, component, end to end)
test: deps
	$(GO) test $(GOTEST_FLAGS) ./...

## test-full: every test, and those that need more backends (build tag full: Jaeger)
test-full: deps deps-jaeger
	$(GO) test $(GOTEST_FLAGS) -tags full ./...

## test-unit: the fast tier: -short skips every test that needs a real backend (Prometheus,
## Loki, Tempo, a kube-apiserver, helm, a browser, the real node); make test runs them all
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
