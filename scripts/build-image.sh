#!/usr/bin/env bash
# Builds the mtasts-exporter container image (Dockerfile, FROM scratch):
#   scripts/build-image.sh [TAG]        # default TAG: mtasts-exporter:<version>
# Environment:
#   MTASTS_BINARY    a release binary already built (else: cargo build --release)
#   MTASTS_REVISION  the git revision (else: git rev-parse HEAD)
#   CONTAINER_TOOL   buildah, podman or docker (else: the first one found)
#   STORAGE_DRIVER   passed to buildah/podman as --storage-driver (CI: vfs)
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
tag=${1:-mtasts-exporter:$version}
revision=${MTASTS_REVISION:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
# The public repository: MTASTS_SOURCE, else origin when it is a URL (a
# clone of a local path says nothing to a user), credentials stripped.
source_url=${MTASTS_SOURCE:-$(git remote get-url origin 2>/dev/null | grep -E '^(https?://|git@|ssh://)' | sed -E 's#//[^/@]*@#//#' || true)}
source_url=${source_url:-unknown}
created=$(date -u +%Y-%m-%dT%H:%M:%SZ)

binary=${MTASTS_BINARY:-}
if [ -z "$binary" ]; then
  echo "-- cargo build --release (revision $revision)"
  MTASTS_REVISION=$revision cargo build --release --locked --bin mtasts-exporter
  binary=target/release/mtasts-exporter
fi

echo "-- root filesystem"
context=target/image
rootfs=$context/rootfs
rm -rf "$context"
mkdir -p "$rootfs/usr/local/bin" "$rootfs/etc/mtasts-exporter"
cp "$binary" "$rootfs/usr/local/bin/mtasts-exporter"
# The dynamic loader and each library at the path ldd names (the loader's
# path is the one written in the binary).
ldd "$binary" | grep -oE '/[^ ]+' | sort -u | while read -r lib; do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done
cat >"$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
mtasts:x:10461:10461:mtasts-exporter:/nonexistent:/sbin/nologin
PASSWD
cat >"$rootfs/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
mtasts:x:10461:
GROUP
cp config/mtasts-exporter.yml "$rootfs/etc/mtasts-exporter/mtasts-exporter.yml"
mkdir -p "$rootfs/tmp" && chmod 1777 "$rootfs/tmp"
# storage.path of the default configuration: the policy history, kept on a
# volume (Dockerfile VOLUME) owned by the unprivileged user.
mkdir -p "$rootfs/var/lib/mtasts-exporter"
chown 10461:10461 "$rootfs/var/lib/mtasts-exporter"
chmod 0700 "$rootfs/var/lib/mtasts-exporter"
find "$rootfs" -type f | sort | sed "s#^$rootfs#  #"

tool=${CONTAINER_TOOL:-}
if [ -z "$tool" ]; then
  for candidate in buildah podman docker; do
    if command -v "$candidate" >/dev/null 2>&1; then tool=$candidate; break; fi
  done
fi
storage=()
if [ -n "${STORAGE_DRIVER:-}" ] && [ "$tool" != docker ]; then storage=(--storage-driver "$STORAGE_DRIVER"); fi
build_args=(--build-arg "VERSION=$version" --build-arg "REVISION=$revision"
  --build-arg "SOURCE=$source_url" --build-arg "CREATED=$created")
echo "-- $tool: $tag"
case "$tool" in
  buildah) buildah "${storage[@]}" bud --isolation chroot "${build_args[@]}" -t "$tag" -f Dockerfile "$context" ;;
  podman) podman "${storage[@]}" build "${build_args[@]}" -t "$tag" -f Dockerfile "$context" ;;
  docker) docker build "${build_args[@]}" -t "$tag" -f Dockerfile "$context" ;;
  *) echo "no container tool: install buildah, podman or docker" >&2; exit 1 ;;
esac
echo "built $tag (version $version, revision $revision)"
