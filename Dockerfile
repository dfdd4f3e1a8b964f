# syntax=docker/dockerfile:1
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

# Run: glibc-based (NVML needs it), small, non-root. The DaemonSet runs it as root only
# where reading /var/log/pods requires it (see deploy/).
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/sonde sonde \
    && mkdir -p /var/lib/sonde && chown sonde /var/lib/sonde
COPY --from=build /out/sonde /usr/bin/sonde
USER 10001
VOLUME /var/lib/sonde
EXPOSE 12345 4317 4318
ENTRYPOINT ["/usr/bin/sonde"]
CMD ["run", "--server.listen=0.0.0.0:12345", "--storage.path=/var/lib/sonde"]
