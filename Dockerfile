# connects-reconciler: a static binary on a distroless base, run as non-root.
#   docker build -t connects-reconciler .
#   docker run --rm -e DATABASE_URL=... connects-reconciler run --dry-run
# The Kubernetes manifests (k8s/) run it with a read-only root file system
# as user 65532, the base image's "nonroot".

# Base images are pinned by digest (the tag stays beside it, for people): a
# rebuild gets the same bases until a reviewed commit moves them. The digests
# are multi-arch manifest lists taken from public Dockerfiles in which at
# least two unrelated projects pin the same tag to the same digest; the
# machine this was written on reaches no container registry, so check them
# before a release and when refreshing them:
#   docker buildx imagetools inspect golang:1.26-bookworm
#   docker buildx imagetools inspect gcr.io/distroless/static-debian12:nonroot
# (or `crane digest IMAGE`). k8s/dockerfile_test.go fails on a FROM without one.
FROM golang:1.26-bookworm@sha256:a688600ca24f8a4d3ca77f95b0dd40704a9fc787c826660eb7ba0b641b8b175d AS build
WORKDIR /src
# go.mod's toolchain line (go1.26.10, for the standard library's fixes that
# `make vuln` checks) is fetched through the module proxy when the image's go
# is older; the image itself sets GOTOOLCHAIN=local.
ENV GOTOOLCHAIN=auto
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# CGO off: a static binary with no libc to match; time zones are embedded
# (time/tzdata) for the schedule command. VERSION is what --version and the
# connects_reconciler_build_info metric say (.git is not in the context):
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) \
#     --build-arg REVISION=$(git rev-parse HEAD) .
ARG VERSION=dev
ARG REVISION=
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath \
      -ldflags="-s -w -X github.com/connects/connects-reconciler/internal/version.version=${VERSION} -X github.com/connects/connects-reconciler/internal/version.revision=${REVISION}" \
      -o /out/connects-reconciler ./cmd/connects-reconciler

FROM gcr.io/distroless/static-debian12:nonroot@sha256:d093aa3e30dbadd3efe1310db061a14da60299baff8450a17fe0ccc514a16639
COPY --from=build /out/connects-reconciler /usr/local/bin/connects-reconciler
USER 65532:65532
# schedule mode's /healthz, /readyz and /metrics
EXPOSE 9090
ENTRYPOINT ["/usr/local/bin/connects-reconciler"]
CMD ["run"]
