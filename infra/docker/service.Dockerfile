# syntax=docker/dockerfile:1
#
# One image recipe for every Go service (auth, tickets, orders, expiration,
# payments): they share a layout and differ only in their folder name, so one
# parameterised file keeps the five images identical in how they are built.
# Build from the repository root, which holds common/ that every service uses:
#
#   docker build -f infra/docker/service.Dockerfile --build-arg SERVICE=auth -t ticketing/auth .

FROM golang:1.26 AS build
ARG SERVICE
RUN test -n "$SERVICE" || { echo "build with --build-arg SERVICE=<auth|tickets|orders|expiration|payments>" >&2; exit 1; }
# Module files first: the download layer is reused until a go.mod or go.sum changes.
WORKDIR /src
COPY common/go.mod common/go.sum common/
COPY ${SERVICE}/go.mod ${SERVICE}/go.sum ${SERVICE}/
# The service's go.mod replaces ticketing.dev/common with ../common, so the
# build needs no go.work (GOWORK=off keeps a stray one from being used).
ENV GOWORK=off CGO_ENABLED=0 GOFLAGS=-buildvcs=false
RUN cd "$SERVICE" && go mod download
COPY common/ common/
COPY ${SERVICE}/ ${SERVICE}/
RUN cd "$SERVICE" && go build -trimpath -ldflags='-s -w' -o /out/service .

# A static binary on distroless: no shell, no package manager, CA certificates
# (payments calls Stripe over TLS) and tzdata included; runs as uid 65532.
FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/service /service
USER 65532:65532
EXPOSE 3000
ENTRYPOINT ["/service"]
