#!/usr/bin/env bash
# Builds the static tribune binary on the host (CGO_ENABLED=0, needing only
# the Go module proxy) and the FROM scratch image from it.
#   ./deploy/build.sh [TAG]      # TAG defaults to $TRIBUNE_IMAGE or tribune:dev
# TRIBUNE_BINARY=path uses a static binary built already instead.
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-${TRIBUNE_IMAGE:-tribune:dev}}
ctx=$(mktemp -d "${TMPDIR:-/tmp}/tribune-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/rootfs/bin" "$ctx/rootfs/data" "$ctx/rootfs/tmp" "$ctx/rootfs/etc/ssl/certs"
chmod 1777 "$ctx/rootfs/tmp"
if [ -n "${TRIBUNE_BINARY:-}" ]; then
	cp "$TRIBUNE_BINARY" "$ctx/rootfs/bin/tribune"
else
	CGO_ENABLED=0 go build -trimpath -o "$ctx/rootfs/bin/tribune" ./cmd/tribune
fi
cp /etc/ssl/certs/ca-certificates.crt "$ctx/rootfs/etc/ssl/certs/ca-certificates.crt"
cp deploy/Dockerfile "$ctx/Dockerfile"
docker build -q -t "$tag" "$ctx" >/dev/null
echo "built image $tag"
