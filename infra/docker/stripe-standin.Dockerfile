# syntax=docker/dockerfile:1
#
# The Stripe stand-in (infra/stripestandin, cmd/stripe-standin) for clusters
# without a Stripe account (infra/k8s/components/stripe-standin). It cannot
# share service.Dockerfile: the stand-in is its own standard-library-only
# module under infra/, with no go.sum and no use of common/. Build from the
# repository root, like the services:
#
#   docker build -f infra/docker/stripe-standin.Dockerfile -t ticketing/stripe-standin .

FROM golang:1.26 AS build
WORKDIR /src
ENV GOWORK=off CGO_ENABLED=0 GOFLAGS=-buildvcs=false
COPY infra/stripestandin/ infra/stripestandin/
RUN cd infra/stripestandin && go build -trimpath -ldflags='-s -w' -o /out/stripe-standin ./cmd/stripe-standin

# A static binary on distroless, as the services: no shell, no package
# manager; runs as uid 65532.
FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/stripe-standin /stripe-standin
USER 65532:65532
EXPOSE 12111
ENTRYPOINT ["/stripe-standin"]
