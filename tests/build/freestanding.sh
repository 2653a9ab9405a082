#!/bin/sh
# The freestanding archive links into one -nostdlib relocatable object whose
# only undefined symbols are memcpy, memmove, memset and memcmp.
# usage: freestanding.sh CC ARCHIVE
set -eu
cc=$1 archive=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$cc" -nostdlib -r -o "$tmp/all.o" -Wl,--whole-archive "$archive" -Wl,--no-whole-archive
undef=$(nm -u "$tmp/all.o" | awk '{print $2}' | sort -u)
bad=$(printf '%s\n' "$undef" | grep -vxE 'memcpy|memmove|memset|memcmp|' || true)
defined=$(nm --defined-only "$tmp/all.o" | grep -c ' T vc_' || true)
echo "undefined symbols: $(echo $undef)"
if [ -n "$bad" ]; then
    echo "FAIL: the freestanding library needs: $(echo $bad)"
    exit 1
fi
[ "$defined" -gt 10 ] || { echo "FAIL: only $defined vc_ functions in the archive"; exit 1; }
echo "ok: $defined vc_ functions, no undefined symbol beyond mem*"
