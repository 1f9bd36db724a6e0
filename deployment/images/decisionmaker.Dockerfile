# syntax=docker/dockerfile:1.7
#
# Gthulhu Decision Maker image (`gthulhu-decisionmaker`).
#
# Build from the REPOSITORY ROOT (the build context is the whole workspace):
#
#   docker build -f deployment/images/decisionmaker.Dockerfile -t ghcr.io/gthulhu/gthulhu-decisionmaker:latest .
#
# Dependency caching uses BuildKit cache mounts (cargo registry, git checkouts
# and the target directory), so a rebuild after a source change recompiles
# only the workspace crates. A `cargo-chef` layer would also survive a cold
# BuildKit cache, but it needs an extra tool compiled in every cold build;
# the cache mounts are the simpler trade-off here (see README.md).

ARG RUST_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:latest

FROM ${RUST_IMAGE} AS builder
WORKDIR /src
ENV CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0
COPY . .
RUN --mount=type=cache,id=gthulhu-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=gthulhu-cargo-git,target=/usr/local/cargo/git \
    --mount=type=cache,id=gthulhu-target-decisionmaker,target=/src/target \
    cargo build --release -p gthulhu-decisionmaker --locked \
 && install -D -m 0755 target/release/gthulhu-decisionmaker /out/gthulhu-decisionmaker

FROM ${RUNTIME_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="gthulhu-decisionmaker" \
      org.opencontainers.image.description="Gthulhu Decision Maker: per-node PID-level scheduling decisions for the Gthulhu sched_ext scheduler" \
      org.opencontainers.image.source="https://github.com/Gthulhu/gthulhu-rs" \
      org.opencontainers.image.url="https://github.com/Gthulhu/gthulhu-rs" \
      org.opencontainers.image.documentation="https://github.com/Gthulhu/gthulhu-rs/blob/main/docs/deployment.md" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="Gthulhu" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
WORKDIR /app
COPY --from=builder /out/gthulhu-decisionmaker /app/gthulhu-decisionmaker
COPY config/dm_config.toml /app/config/dm_config.toml
# The DM reads the host's /proc and /sys/fs/cgroup (hostPID, hostPath mounts,
# privileged: see deployment/kubernetes/base/decisionmaker/daemonset.yaml), so
# it runs as root. It writes nothing to disk: logs go to stdout.
USER 0:0
EXPOSE 8080
# No HEALTHCHECK: Kubernetes probes GET /health (tcpSocket with mTLS).
ENTRYPOINT ["/app/gthulhu-decisionmaker"]
