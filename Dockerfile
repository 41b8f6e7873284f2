# syntax=docker/dockerfile:1
#
# The `drip` image: a release build of the binary on distroless/cc (glibc and libgcc,
# no shell, no package manager), run as the distroless `nonroot` user (65532).
# Build from the repository root:   docker build -t drip .
# Deployment guide: docs/deployment.md; why these choices: docs/decisions/0015-deployment-files.md.
# Linted by `cargo xtask lint` (hadolint); never built in this repository's CI.

# The builder's Debian release (bookworm) matches the runtime's (debian12): the binary
# links against the builder's glibc.
FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
# The registry and target caches survive between builds (BuildKit); the binary is copied
# out of the cache mount, which is not part of the stage's filesystem.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --package drip-server --bin drip \
    && install -D --mode=0755 target/release/drip /out/drip \
    && mkdir /out/data

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/drip /usr/local/bin/drip
# The data directory of the embedded defaults (SQLite, objects, generated secrets): COPY
# creates it owned by the runtime user (Drip makes it 0700 when it starts), and a named
# volume mounted there starts with that ownership. With PostgreSQL and a bucket nothing is
# written to disk, and the root filesystem may be read-only.
COPY --from=builder --chown=65532:65532 /out/data /var/lib/drip
ENV DRIP_DATA_DIR=/var/lib/drip \
    PORT=4000
# A drip.toml mounted here is read (or pass --config).
WORKDIR /etc/drip
USER 65532:65532
EXPOSE 4000
VOLUME ["/var/lib/drip"]
# No curl in the image: the binary checks itself (`drip healthcheck`, GET /health on the
# configured port over loopback; exit 0 on 200).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/drip", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/drip"]
CMD ["serve"]
