# syntax=docker/dockerfile:1
# Build for this machine, or for both published platforms with buildx:
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg VERSION=1.0.0 --build-arg COMMIT=$(git rev-parse HEAD) \
#     --build-arg CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ) -t clipbridge .
#
# Both base images are pinned by the digest of their multi-platform index, so
# every platform's build starts from the same bytes however the tag moves; the
# tag stays for readers and for Renovate/Dependabot, which bump the digest.
# Pinned: golang:1.26-bookworm (Go 1.26.8) and
# gcr.io/distroless/static-debian12:nonroot as published in 2026-09 and
# 2026-08. To update by hand: `crane digest IMAGE:TAG` (or `docker buildx
# imagetools inspect IMAGE:TAG`), then replace the sha256 after the tag.

# The build stage runs on the builder's own platform and cross-compiles for
# the target (Go needs no emulator for that), so an arm64 image builds at
# native speed on an amd64 machine.
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm@sha256:9fdc884aacc3bec89b20ffc69f4bb369c78210e3e4f600387b5128b12c199f81 AS build
# Set by buildx for each platform in --platform; empty in a plain build,
# where Go then builds for the builder's own platform.
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
# Static binary: the final image has no libc. -trimpath keeps build paths out.
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath \
    -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
    -o /out/clipbridge .

FROM gcr.io/distroless/static-debian12:nonroot@sha256:f5b485ea962d9bd1186b2f6b3a061191539b905b82ec395de78cbfae51f20e35
# Build arguments do not cross stages: these are the final stage's own.
ARG VERSION=dev
ARG COMMIT=unknown
# An RFC 3339 time; empty rather than invented when the build does not say.
ARG CREATED=
LABEL org.opencontainers.image.title="clipbridge" \
      org.opencontainers.image.description="Per-run sidecar that lets a Paperclip agent on a remote execution host call the Paperclip API without holding the run's credential" \
      org.opencontainers.image.source="https://github.com/clipbridge/clipbridge" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="gcr.io/distroless/static-debian12:nonroot"
COPY --from=build /out/clipbridge /clipbridge
USER nonroot:nonroot
# The admin listener (/metrics, /healthz, /readyz) needs a fixed port that
# Prometheus and the health check can reach; the callback API stays on
# loopback unless a deployment says otherwise.
ENV CLIPBRIDGE_ADMIN_LISTEN=0.0.0.0:9090
EXPOSE 9090
# No shell or curl in this image: the binary probes its own /readyz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/clipbridge", "health"]
ENTRYPOINT ["/clipbridge"]
CMD ["serve"]
