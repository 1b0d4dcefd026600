#!/usr/bin/env bash
# Builds the local NATS image the test harness runs under testcontainers: no registry is reachable,
# so the image is a rootfs holding the Debian nats-server binary and its libc, imported with docker import.
set -euo pipefail
IMAGE="${MESH_NATS_IMAGE:-openclaw-mesh/nats:local}"
BIN="${MESH_NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}"
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "image $IMAGE present"
  exit 0
fi
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/data" "$root/tmp"
cp "$BIN" "$root/nats-server"
# Copy every shared library the binary links (libc and the loader on Debian amd64).
for lib in $(ldd "$BIN" | grep -o '/[^ ]*'); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
tar -C "$root" -c . | docker import -c 'ENTRYPOINT ["/nats-server"]' -c 'EXPOSE 4222 6222 8222' - "$IMAGE" >/dev/null
echo "built image $IMAGE from $BIN ($("$BIN" --version))"
