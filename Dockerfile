# o365-host outside Azure: `o365-host run` (its own NCRONTAB scheduler) in a
# container. Settings come from the environment (docs/deploy.md, "Run outside
# Azure"); state, events and the compile cache live in the /var/lib/o365 volume.
#
#   docker build -t o365-host .
#   docker run --rm -v o365:/var/lib/o365 --env-file o365.env o365-host
#
# Built and run once where it was written, from locally made base images of
# the same names (no registry reachable there); docs/deploy.md, "As a
# container", says what was checked, and host/tests/dockerfile.rs checks it.

# --- build: the release binary and the embedded wasm32-wasip2 components ---
FROM rust:1-bookworm AS build
# OpenSSL headers: azure_messaging_eventhubs' AMQP TLS (openssl-sys).
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# rust-toolchain.toml names `stable` (the image's) and the wasm32-wasip2 target.
RUN rustup target add wasm32-wasip2 \
 && cargo build --release --locked -p o365-host \
 && cp target/release/o365-host /usr/local/bin/o365-host

# --- runtime: Debian 12 slim, the same glibc (2.36) the binary was built on ---
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /var/lib/o365 o365
COPY --from=build /usr/local/bin/o365-host /usr/local/bin/o365-host
USER o365
WORKDIR /var/lib/o365
ENV O365_LOG_FORMAT=json \
    O365_STATE_DIR=/var/lib/o365/state \
    O365_OUTPUT_DIR=/var/lib/o365/events \
    O365_COMPONENT_CACHE_DIR=/var/lib/o365/cache
VOLUME ["/var/lib/o365"]
# `run` stops on SIGINT: running cycles finish and checkpoint (a second one
# stops at once). As PID 1 it would ignore docker's default SIGTERM.
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/o365-host"]
CMD ["run"]
