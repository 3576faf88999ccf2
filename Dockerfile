# syntax=docker/dockerfile:1
# Build: docker build --build-arg VERSION=1.0.0 --build-arg COMMIT=$(git rev-parse HEAD) -t clipbridge .

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
# Static binary: the final image has no libc. -trimpath keeps build paths out.
RUN CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
    -o /out/clipbridge .

FROM gcr.io/distroless/static-debian12:nonroot
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
