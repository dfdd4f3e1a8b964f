# Build arguments:
#   BASE_IMAGE    the runtime stage's base (default debian:bookworm-slim). When it already has
#                 ca-certificates (testdata/node's debootstrap base does), the runtime stage
#                 needs no network.
#   SONDE_BINARY  where /usr/bin/sonde comes from: "build" (default) compiles it in the golang
#                 stage; "prebuilt" copies the file `sonde` from the build context instead, e.g.
#                   mkdir ctx && cp bin/sonde ctx/ &&
#                   DOCKER_BUILDKIT=1 docker build -f Dockerfile --build-arg SONDE_BINARY=prebuilt ctx
#                 (BuildKit then skips the golang stage; testdata/node/image.sh does this).
#   VERSION       stamped into the binary by the golang stage.
# No `# syntax=` line on purpose: it makes BuildKit pull a frontend image, and the builds here
# have no registry.
ARG BASE_IMAGE=debian:bookworm-slim
ARG SONDE_BINARY=build

# Build: cgo on (NVML is loaded at run time with dlopen), trimmed paths, no VCS stamping, so
# the same source gives the same binary.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=1 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION}" -o /out/sonde ./cmd/sonde

# A binary built outside (glibc-based, like the build stage's: `make build` on Debian 12).
FROM scratch AS prebuilt
COPY sonde /out/sonde

FROM ${SONDE_BINARY} AS binary

# Run: glibc-based (NVML needs it), small, non-root. The DaemonSet runs it as root only
# where reading /var/log/pods requires it (see deploy/).
FROM ${BASE_IMAGE}
RUN if [ ! -s /etc/ssl/certs/ca-certificates.crt ]; then \
      apt-get update && apt-get install -y --no-install-recommends ca-certificates \
      && rm -rf /var/lib/apt/lists/*; \
    fi \
    && useradd --system --uid 10001 --home-dir /var/lib/sonde sonde \
    && mkdir -p /var/lib/sonde && chown sonde /var/lib/sonde
COPY --from=binary /out/sonde /usr/bin/sonde
USER 10001
VOLUME /var/lib/sonde
EXPOSE 12345 4317 4318
ENTRYPOINT ["/usr/bin/sonde"]
CMD ["run", "--server.listen=0.0.0.0:12345", "--storage.path=/var/lib/sonde"]
