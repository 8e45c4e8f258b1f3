# Multi-stage build: a static-ish release binary on a slim, non-root runtime.
FROM rust:1.88-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked --bin mtasts-exporter

FROM debian:bookworm-slim
# CA certificates are not needed for policy hosts (Mozilla's roots are built
# in) but help operators who add tls.ca_file from the system store.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --no-create-home --uid 10461 mtasts
COPY --from=build /src/target/release/mtasts-exporter /usr/local/bin/mtasts-exporter
COPY config/mtasts-exporter.yml /etc/mtasts-exporter/mtasts-exporter.yml
USER mtasts
EXPOSE 10461
ENTRYPOINT ["/usr/local/bin/mtasts-exporter"]
CMD ["--config.file=/etc/mtasts-exporter/mtasts-exporter.yml"]
