#!/usr/bin/env bash
# `cmake --install` puts the library, public headers, a pkg-config file and
# the CLI under a prefix, and a program built only from them works.
set -eu
build=$1 cc=$2
pfx=$(mktemp -d)
trap 'rm -rf "$pfx"' EXIT
cmake --install "$build" --prefix "$pfx" >/dev/null
libdir=$(ls -d "$pfx"/lib*/ | head -1)
for f in include/persona/pe_kg.h include/persona/pe_import.h include/persona/pe_encoder.h \
         include/persona/pe_util.h bin/persona; do
  [ -e "$pfx/$f" ] || { echo "not installed: $f"; exit 1; }
done
[ -e "$libdir/pkgconfig/persona.pc" ] || { echo "no persona.pc"; exit 1; }
cat > "$pfx/t.c" <<'C'
#include <pe_kg.h>
#include <stdio.h>
int main(void) {
    pe_kg_options o = pe_kg_options_default();
    printf("%s %d\n", pe_status_str(PE_ERR_PARSE), o.create);
    return 0;
}
C
flags=$(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs persona)
$cc "$pfx/t.c" -o "$pfx/t" $flags
out=$(LD_LIBRARY_PATH="$libdir" "$pfx/t")
[ "$out" = "parse error 1" ] || { echo "unexpected output: $out"; exit 1; }
LD_LIBRARY_PATH="$libdir" "$pfx/bin/persona" --version | grep -q '^persona ' || { echo "installed CLI broken"; exit 1; }
echo "install ok"
