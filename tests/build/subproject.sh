#!/bin/sh
# Build and run a project that uses libvirtcore as a Meson subproject through
# dependency('virtcore') (meson.override_dependency).
# usage: subproject.sh SOURCE_ROOT CONSUMER_DIR
set -eu
root=$1 consumer=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$consumer/meson.build" "$consumer/main.c" "$tmp/"
mkdir "$tmp/subprojects"
ln -s "$root" "$tmp/subprojects/virtcore"
meson setup "$tmp/build" "$tmp" >"$tmp/setup.log" 2>&1 || { cat "$tmp/setup.log"; exit 1; }
meson compile -C "$tmp/build" >"$tmp/compile.log" 2>&1 || { cat "$tmp/compile.log"; exit 1; }
"$tmp/build/consumer"
