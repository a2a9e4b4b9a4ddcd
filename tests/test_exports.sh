#!/usr/bin/env bash
# libpersona.so exports exactly the functions its installed headers declare
# (PE_API, util/pe_util.h): nothing internal leaks (kg_*, imp_*, enc_*), and
# no declared function is left hidden. The declarations come from the
# installed headers themselves (gcc -aux-info lists every prototype with its
# file), so a new public header is checked as soon as it is installed.
#   usage: test_exports.sh BUILD_DIR CC
set -eu
build=$1 cc=$2
command -v nm >/dev/null || { echo "no nm: skipped"; exit 77; }
echo 'int x;' | "$cc" -x c -fsyntax-only -aux-info /dev/null - 2>/dev/null \
  || { echo "$cc has no -aux-info (gcc only): skipped"; exit 77; }
pfx=$(mktemp -d)
trap 'rm -rf "$pfx"' EXIT
cmake --install "$build" --prefix "$pfx" >/dev/null
inc=$pfx/include/persona
lib=$(ls "$pfx"/lib*/libpersona.so | head -1)
n=0
for h in "$inc"/*.h; do
  "$cc" -std=c11 -fsyntax-only -I"$inc" -aux-info "$pfx/aux.txt" -x c "$h"
  # "/* PFX/include/persona/pe_kg.h:123:NC */ extern pe_status pe_kg_open (...);"
  grep -F "$inc/" "$pfx/aux.txt" | grep -v ' static ' \
    | sed -E 's/^[^*]*\*\/ *//; s/ \(.*//; s/.*[ *]//' >> "$pfx/declared.raw"
  n=$((n + 1))
done
sort -u "$pfx/declared.raw" > "$pfx/declared"
nm -D --defined-only "$lib" | awk '{print $NF}' | grep -v -x -E '_init|_fini' | sort -u > "$pfx/exported"
extra=$(comm -23 "$pfx/exported" "$pfx/declared")
missing=$(comm -13 "$pfx/exported" "$pfx/declared")
status=0
if [ -n "$extra" ]; then
  echo "exported by $(basename "$lib") but declared in no installed header (make them static, or hide them):"
  echo "$extra" | sed 's/^/  /'
  status=1
fi
if [ -n "$missing" ]; then
  echo "declared in an installed header but not exported (declare them with PE_API):"
  echo "$missing" | sed 's/^/  /'
  status=1
fi
[ $status = 0 ] && echo "exports ok: $(wc -l < "$pfx/exported") functions of $n headers"
exit $status
