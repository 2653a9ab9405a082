#!/bin/sh
# Install into a staging directory, then build and run a consumer with
# nothing but `pkg-config --cflags --libs virtcore`.
# usage: consumer-pkgconfig.sh CC BUILD_DIR SOURCE_FILE
set -eu
cc=$1 build=$2 src=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
DESTDIR="$tmp/stage" meson install -C "$build" --no-rebuild --quiet >/dev/null
pc=$(find "$tmp/stage" -name virtcore.pc | head -n 1)
[ -n "$pc" ] || { echo "FAIL: virtcore.pc not installed"; exit 1; }
export PKG_CONFIG_PATH="$(dirname "$pc")" PKG_CONFIG_SYSROOT_DIR="$tmp/stage"
flags=$(pkg-config --cflags --libs virtcore)
echo "pkg-config: $flags"
# shellcheck disable=SC2086
"$cc" -std=c11 -Wall -Werror "$src" -o "$tmp/consumer" $flags
libdir=$(dirname "$(find "$tmp/stage" -name 'libvirtcore.so.0' | head -n 1)")
LD_LIBRARY_PATH="$libdir" "$tmp/consumer"
