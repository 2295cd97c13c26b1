# connects-reconciler: a static binary on a distroless base, run as non-root.
#   docker build -t connects-reconciler .
#   docker run --rm -e DATABASE_URL=... connects-reconciler run --dry-run
# The Kubernetes manifests (k8s/) run it with a read-only root file system
# as user 65532, the base image's "nonroot".

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# CGO off: a static binary with no libc to match; time zones are embedded
# (time/tzdata) for the schedule command.
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" \
      -o /out/connects-reconciler ./cmd/connects-reconciler

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/connects-reconciler /usr/local/bin/connects-reconciler
USER 65532:65532
# schedule mode's /healthz, /readyz and /metrics
EXPOSE 9090
ENTRYPOINT ["/usr/local/bin/connects-reconciler"]
CMD ["run"]
