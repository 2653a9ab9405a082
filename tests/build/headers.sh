#!/bin/sh
# Every public header compiles on its own as strict C99 and as C++11.
# usage: headers.sh CC CXX SRC_INCLUDE BUILD_INCLUDE
set -eu
cc=$1 cxx=$2 srcinc=$3 bldinc=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0 n=0
for h in "$srcinc"/virtcore/*.h "$bldinc"/virtcore/config.h; do
    name=virtcore/$(basename "$h")
    printf '#include <%s>\n#include <%s>\nint vc_header_test_anchor;\n' "$name" "$name" > "$tmp/t.c"
    cp "$tmp/t.c" "$tmp/t.cpp"
    if ! "$cc" -std=c99 -pedantic -Wall -Wextra -Werror -I"$srcinc" -I"$bldinc" \
            -c "$tmp/t.c" -o "$tmp/t.o"; then
        echo "FAIL: $name as C99"; fail=1
    fi
    if [ "$cxx" != none ] && ! "$cxx" -std=c++11 -pedantic -Wall -Wextra -Werror \
            -I"$srcinc" -I"$bldinc" -c "$tmp/t.cpp" -o "$tmp/t.o"; then
        echo "FAIL: $name as C++11"; fail=1
    fi
    n=$((n + 1))
done
[ "$n" -gt 5 ] || { echo "FAIL: only $n headers found"; exit 1; }
[ "$fail" = 0 ] && echo "ok: $n headers compile alone as C99 and C++11"
exit $fail
