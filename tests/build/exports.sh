#!/bin/sh
# libvirtcore.so exports exactly the VC_API functions of the public headers,
# every one versioned VIRTCORE_0, and has SONAME libvirtcore.so.0.
# usage: exports.sh SHARED_LIB SRC_INCLUDE
set -eu
lib=$1 inc=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = libvirtcore.so.0 ] || { echo "FAIL: SONAME is '$soname'"; exit 1; }
nm -D --defined-only "$lib" | awk '$2 ~ /[TDBR]/ {print $3}' | sed 's/@.*//' |
    grep -v '^VIRTCORE_' | sort -u > "$tmp/exported"
# The name before '(' on each VC_API declaration (declarations may wrap).
grep -hv "^#" "$inc"/virtcore/*.h | tr '\n' ' ' | grep -o 'VC_API [^(;]*(' |
    sed 's/($//; s/.*[ *]//' | sort -u > "$tmp/declared"
if ! diff -u "$tmp/declared" "$tmp/exported"; then
    echo "FAIL: exported symbols (+) differ from VC_API declarations (-)"
    exit 1
fi
if nm -D --defined-only --with-symbol-versions "$lib" | awk '$2 ~ /[TDBR]/ {print $3}' |
        grep -v '^VIRTCORE_' | grep -v '@@VIRTCORE_0$'; then
    echo "FAIL: symbols above are not versioned VIRTCORE_0"
    exit 1
fi
echo "ok: SONAME $soname, $(wc -l < "$tmp/exported") symbols, all VC_API, all VIRTCORE_0"
