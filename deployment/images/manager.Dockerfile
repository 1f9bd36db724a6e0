# syntax=docker/dockerfile:1.7
#
# Gthulhu Manager image (`gthulhu-manager`).
#
# Build from the REPOSITORY ROOT (the build context is the whole workspace):
#
#   docker build -f deployment/images/manager.Dockerfile -t ghcr.io/gthulhu/gthulhu-manager:latest .
#
# Dependency caching: BuildKit cache mounts, as in decisionmaker.Dockerfile.

ARG RUST_IMAGE=rust:1-bookworm
# ":nonroot" is the same image with USER 65532 preset; we also set it below.
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${RUST_IMAGE} AS builder
WORKDIR /src
ENV CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0
COPY . .
# The redb backend (storage.backend = redb/auto) writes data/manager.redb
# relative to the working directory: /app/data is created writable for the
# non-root user (mount a volume there to keep it).
RUN --mount=type=cache,id=gthulhu-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=gthulhu-cargo-git,target=/usr/local/cargo/git \
    --mount=type=cache,id=gthulhu-target-manager,target=/src/target \
    cargo build --release -p gthulhu-manager --locked \
 && install -D -m 0755 target/release/gthulhu-manager /out/gthulhu-manager \
 && install -d -m 0755 -o 65532 -g 65532 /out/data

FROM ${RUNTIME_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="gthulhu-manager" \
      org.opencontainers.image.description="Gthulhu Manager: users, roles, scheduling strategies and intent delivery to the per-node Decision Makers" \
      org.opencontainers.image.source="https://github.com/Gthulhu/gthulhu-rs" \
      org.opencontainers.image.url="https://github.com/Gthulhu/gthulhu-rs" \
      org.opencontainers.image.documentation="https://github.com/Gthulhu/gthulhu-rs/blob/main/docs/deployment.md" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="Gthulhu" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
WORKDIR /app
COPY --from=builder /out/gthulhu-manager /app/gthulhu-manager
COPY --from=builder --chown=65532:65532 /out/data /app/data
COPY config/manager_config.toml /app/config/manager_config.toml
USER 65532:65532
EXPOSE 8080
# No HEALTHCHECK: Kubernetes probes GET /health (liveness) and GET /ready.
ENTRYPOINT ["/app/gthulhu-manager"]
