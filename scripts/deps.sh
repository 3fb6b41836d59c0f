#!/bin/sh
# scripts/deps.sh: installs, with apt-get, the Debian 12 packages gst-p2p
# needs to build, test and run its demo. Skips what is installed; runs
# apt-get update only when something is missing. Needs root (or sudo).
set -eu

PKGS="meson ninja-build pkg-config gcc clang libclang-rt-14-dev
libglib2.0-dev libsodium-dev libgnutls28-dev libngtcp2-dev
libngtcp2-crypto-gnutls-dev libnice-dev libsoup-3.0-dev libjson-glib-dev libavahi-core-dev libavahi-glib-dev
libopendht-c-dev dhtnode
libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-tools
gstreamer1.0-plugins-base gstreamer1.0-plugins-base-apps
gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
coturn srt-tools iptables iproute2 valgrind gobject-introspection libgirepository1.0-dev python3-gi"

missing=""
for p in $PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done

if [ -z "$missing" ]; then
  exit 0
fi

echo "deps: installing:$missing"
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "deps: missing packages:$missing; run as root or install them" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
# coturn's package may start a system service; our tests start their own.
if command -v systemctl >/dev/null 2>&1; then
  $SUDO systemctl disable --now coturn >/dev/null 2>&1 || true
fi
