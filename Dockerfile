# One image build for the three binaries; pick one with the target:
#   docker build --target gateway|users-worker|orders-worker -t gqlmq/NAME .
# (docker-compose.yml does this for each service.)

FROM rust:1-bookworm AS builder
WORKDIR /src
# The three binaries; the gateway without its `embedded` feature, since here the services run
# in containers of their own: it then depends on `rpc` alone (no sqlx, SQLite or argon2).
# One command for both builds below, so that the dependency layer has what the second needs.
ENV BUILD="cargo build --release --locked -p users-worker -p orders-worker -p gateway --no-default-features"

# Dependencies first, in a layer of their own that only a change of the manifests rebuilds: the
# workspace with empty crates (a lib.rs in each, a main.rs where a binary is).
COPY Cargo.toml Cargo.lock ./
COPY rpc/Cargo.toml rpc/
COPY entities/Cargo.toml entities/
COPY users-worker/Cargo.toml users-worker/
COPY orders-worker/Cargo.toml orders-worker/
COPY gateway/Cargo.toml gateway/
COPY test-support/Cargo.toml test-support/
RUN for crate in rpc entities users-worker orders-worker gateway test-support; do \
        mkdir -p $crate/src && touch $crate/src/lib.rs; \
    done \
    && for bin in users-worker orders-worker gateway; do echo 'fn main() {}' > $bin/src/main.rs; done \
    && $BUILD

# Then the sources. COPY keeps their modification times, which can be older than the empty
# crates' build: touch them so that cargo rebuilds our crates instead of keeping the empty ones.
COPY rpc rpc
COPY entities entities
COPY users-worker users-worker
COPY orders-worker orders-worker
COPY gateway gateway
COPY test-support test-support
RUN find rpc entities users-worker orders-worker gateway test-support -name '*.rs' -exec touch {} + \
    && $BUILD

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
# A user of its own; its home is the working directory, where a worker on SQLite keeps ./data.
RUN useradd --system --user-group --uid 10001 --create-home --home-dir /app app
COPY --from=builder /src/target/release/gateway /src/target/release/users-worker /src/target/release/orders-worker /usr/local/bin/
USER app
WORKDIR /app
ENV LISTEN_ADDR=0.0.0.0:8000 \
    RUST_LOG=info

# One final stage per binary. ENTRYPOINT, so that arguments (a worker's `migrate`) reach it.
FROM runtime AS users-worker
ENTRYPOINT ["users-worker"]

FROM runtime AS orders-worker
ENTRYPOINT ["orders-worker"]

# Last, so that a plain `docker build .` makes the gateway.
FROM runtime AS gateway
EXPOSE 8000
ENTRYPOINT ["gateway"]
