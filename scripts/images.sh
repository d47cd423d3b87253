#!/usr/bin/env bash
# images.sh — build the rapidbyte/worker and rapidbyte/coordinator images on
# this machine without pulling anything: static binaries (CGO_ENABLED=0) and
# the connector modules built by make, a compilation cache warmed here, the
# host's CA bundle and a nonroot user (uid 65532), laid out in a root
# filesystem that deploy/docker/*.Dockerfile copy FROM scratch.
# Usage: scripts/images.sh [TAG]   (default latest; needs make wasm first)
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${1:-latest}"
version="${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}"
out=build/images
rm -rf "$out"
ldflags="-s -w -X github.com/rapidbyte/rapidbyte/worker/server.Version=$version -X github.com/rapidbyte/rapidbyte/coordinator/server.Version=$version"

# rootfs DIR: the files both images share (root-owned), and the nonroot user.
rootfs() {
  mkdir -p "$1/etc/ssl/certs" "$1/usr/local/bin"
  cp /etc/ssl/certs/ca-certificates.crt "$1/etc/ssl/certs/"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$1/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' > "$1/etc/group"
}

for name in worker coordinator; do
  ctx="$out/$name"
  rootfs "$ctx/rootfs"
  mkdir -p "$ctx/data/opt/rapidbyte" "$ctx/data/tmp" "$ctx/data/home/nonroot"
  CGO_ENABLED=0 go -C "$name" build -trimpath -ldflags "$ldflags" -o "$PWD/$ctx/rootfs/usr/local/bin/rapidbyte-$name" "./cmd/rapidbyte-$name"
  mkdir -p "$ctx/rootfs/opt/rapidbyte"
  cp -r dist/connectors "$ctx/rootfs/opt/rapidbyte/connectors"
done
mkdir -p "$out/coordinator/data/var/lib/rapidbyte"
# The worker's compilation cache, warmed by the binary the image runs.
env -u RAPIDBYTE_CACHE_DIR -u RAPIDBYTE_CONNECTORS_DIR "$out/worker/rootfs/usr/local/bin/rapidbyte-worker" --warm-only \
  --connectors-dir "$out/worker/rootfs/opt/rapidbyte/connectors" --cache-dir "$out/worker/data/opt/rapidbyte/cache" --log-level warn
mkdir -p "$out/worker/data/opt/rapidbyte/cache/modules"

for name in worker coordinator; do
  DOCKER_BUILDKIT=0 docker build -q -f "deploy/docker/$name.Dockerfile" -t "rapidbyte/$name:$tag" "$out/$name" >/dev/null
done
docker images --format 'table {{.Repository}}:{{.Tag}}\t{{.Size}}' 'rapidbyte/*'
