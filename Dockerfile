# One multi-stage build for every Nudge service; pick one with --build-arg SERVICE=...
# (docker-compose.yml does). Docker cannot run on the development machines, so this file
# is kept in step with host mode (./nudge up) by reading; see docs/operations.md.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --profile dist --locked \
        -p messaging-api -p sms-sender -p webhook-listener -p cdc-streamer -p lead-search -p provider-sandbox \
    && mkdir -p /out \
    && cp target/dist/messaging-api target/dist/sms-sender target/dist/webhook-listener \
        target/dist/cdc-streamer target/dist/lead-search target/dist/provider-sandbox /out/

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 nudge
ARG SERVICE
COPY --from=build /out/${SERVICE} /usr/local/bin/service
USER nudge
ENV LOG_FORMAT=json
ENTRYPOINT ["/usr/local/bin/service"]
