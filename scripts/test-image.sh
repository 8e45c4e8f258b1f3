#!/usr/bin/env bash
# CI: builds the container image the README tells users to build, runs
# `--version` in it, then runs it (read-only root, no capabilities, its own
# non-root user) against the fake world (examples/fake_world.rs) with
# --network host, and scrapes /metrics from outside the container.
# Everything listens on 127.0.0.1. Uses buildah and podman from Debian with
# vfs storage, runc and cgroupfs (../shared/notes/containers.md).
# MTASTS_BINARY: a release binary already built, to reuse.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)

missing=()
for tool in podman buildah runc; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "-- installing ${missing[*]} (Debian packages)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq podman buildah runc >/dev/null
fi

tag=mtasts-exporter:ci-$$
name=mtasts-exporter-ci-$$
work=$(mktemp -d)
world_pid=""
# This sandbox refuses podman's default ulimits.
printf '[containers]\ndefault_ulimits = []\n' >"$work/containers.conf"
podman_() {
  CONTAINERS_CONF="$work/containers.conf" podman --storage-driver vfs --runtime runc --cgroup-manager cgroupfs "$@"
}
cleanup() {
  podman_ stop --time 5 "$name" >/dev/null 2>&1 || true
  podman_ rm -f "$name" >/dev/null 2>&1 || true
  podman_ rmi -f "$tag" >/dev/null 2>&1 || true
  if [ -n "$world_pid" ]; then kill "$world_pid" 2>/dev/null || true; wait "$world_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

STORAGE_DRIVER=vfs CONTAINER_TOOL=buildah bash scripts/build-image.sh "$tag"
built=$(date +%s)
size=$(podman_ image inspect --format '{{.Size}}' "$tag")
echo "image $tag: $((size / 1024)) KiB, built in $((built - started)) s"
podman_ image inspect --format '{{json .Labels}}' "$tag"
[ "$(podman_ image inspect --format '{{.Config.User}}' "$tag")" = "10461:10461" ]

echo "-- --version in the image"
revision=${MTASTS_REVISION:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
version_out=$(podman_ run --rm --network host "$tag" --version)
echo "$version_out"
grep -q "^mtasts-exporter, version .* (revision: $revision)$" <<<"$version_out"
[ "$(podman_ image inspect --format '{{index .Labels "org.opencontainers.image.revision"}}' "$tag")" = "$revision" ]

echo "-- the image against the fake world"
cargo build --locked --quiet --example fake_world
target/debug/examples/fake_world "$work/world.yml" >"$work/world.log" 2>&1 &
world_pid=$!
for _ in $(seq 1 120); do [ -s "$work/world.yml" ] && break; sleep 0.25; done
[ -s "$work/world.yml" ] || { cat "$work/world.log"; echo "fake world did not start" >&2; exit 1; }
# The container's user (10461) reads the config and the CA file it names.
chmod 755 "$work" && chmod 644 "$work/world.yml" "$work/world.yml.ca.pem"
port=$(free_port)
podman_ run -d --name "$name" --network host --read-only --cap-drop ALL \
  --security-opt no-new-privileges \
  -v "$work/world.yml:/etc/mtasts-exporter/mtasts-exporter.yml:ro" \
  -v "$work/world.yml.ca.pem:$work/world.yml.ca.pem:ro" \
  "$tag" --web.listen-address "127.0.0.1:$port" --log.level warn >/dev/null
ready=""
for _ in $(seq 1 240); do
  if curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1; then ready=yes; break; fi
  sleep 0.25
done
if [ -z "$ready" ]; then podman_ logs "$name" >&2 || true; echo "exporter in the container not ready" >&2; exit 1; fi
metrics=$(curl -sf "http://127.0.0.1:$port/metrics")
for series in 'mtasts_probe_success{domain="good.test"} 1' \
  'mtasts_probe_success{domain="norecord.test"} 0' \
  "mtasts_exporter_build_info{revision=\"$revision\","; do
  if ! grep -qF "$series" <<<"$metrics"; then
    podman_ logs "$name" >&2 || true
    echo "/metrics from the container lacks: $series" >&2
    exit 1
  fi
  echo "scraped from outside the container: $series"
done
[ "$(podman_ inspect --format '{{.Config.User}}' "$name")" = "10461:10461" ]
configured=$(grep -E '^mtasts_domains_configured ' <<<"$metrics" | cut -d' ' -f2)

echo "-- as a StatefulSet pod runs it: shard from the environment, its args"
podman_ stop --time 5 "$name" >/dev/null
podman_ rm -f "$name" >/dev/null
port=$(free_port)
podman_ run -d --name "$name" --network host --read-only --cap-drop ALL \
  --security-opt no-new-privileges -e MTASTS_SHARD_INDEX=0 -e MTASTS_SHARD_COUNT=3 \
  -v "$work/world.yml:/etc/mtasts-exporter/mtasts-exporter.yml:ro" \
  -v "$work/world.yml.ca.pem:$work/world.yml.ca.pem:ro" \
  "$tag" --log.format=json --web.listen-address "127.0.0.1:$port" >/dev/null
healthy=""
for _ in $(seq 1 120); do
  if curl -sf "http://127.0.0.1:$port/-/healthy" >/dev/null 2>&1; then healthy=yes; break; fi
  sleep 0.25
done
if [ -z "$healthy" ]; then podman_ logs "$name" >&2 || true; echo "sharded exporter in the container not healthy" >&2; exit 1; fi
share=$(curl -sf "http://127.0.0.1:$port/metrics" | grep -E '^mtasts_domains_configured ' | cut -d' ' -f2)
echo "shard 0 of 3 schedules $share of $configured domains"
[ "$share" -gt 0 ] && [ "$share" -lt "$configured" ]
echo "image checks passed in $(($(date +%s) - started)) s"
