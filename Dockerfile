# The mtasts-exporter image: FROM scratch, only what the binary needs at run
# time (as Prometheus's own images and distroless/cc are built). The root
# filesystem is put together by scripts/build-image.sh, which then builds
# this file with target/image/ as the context:
#   scripts/build-image.sh                  # builds mtasts-exporter:<version>
# rootfs/ holds the release binary, the shared libraries `ldd` names (glibc,
# libgcc_s; no musl toolchain is available to build a static binary), an
# /etc/passwd and /etc/group with the unprivileged user, and the default
# configuration. No CA bundle: the policy hosts' roots (Mozilla's) are
# compiled in; mount a file and set tls.ca_file for a private CA.
FROM scratch

ARG VERSION=unknown
ARG REVISION=unknown
ARG SOURCE=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="mtasts-exporter" \
      org.opencontainers.image.description="Prometheus exporter for MTA-STS (RFC 8461) set-ups" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"

COPY rootfs/ /

# The policy history (storage.path in the default configuration) survives
# a restart of the container on this volume.
VOLUME /var/lib/mtasts-exporter
# mtasts (uid/gid 10461, in rootfs/etc/passwd): never root.
USER 10461:10461
EXPOSE 10461
# Mount another configuration over this path (Kubernetes: the ConfigMap);
# further flags go after the image name, e.g. `--log.format=json`.
ENTRYPOINT ["/usr/local/bin/mtasts-exporter", "--config.file=/etc/mtasts-exporter/mtasts-exporter.yml"]
