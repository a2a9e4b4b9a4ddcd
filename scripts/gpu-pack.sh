#!/usr/bin/env bash
# Runs HERE (Debian 12, which reaches Debian's mirror), before a run on the
# GPU machine, which reaches nothing and may lack our -dev libraries: downloads
# into .gpu-deps/ the .deb files that scripts/gpu-check.sh unpacks there into a
# private sysroot (docs/GPU.md, "Before the first GPU run"). The pack holds the
# -dev packages the build needs, their runtime libraries and those libraries'
# runtime dependencies, OpenBLAS in its pthread flavour only, and pkgconf;
# not the base system (glibc, libgcc, libstdc++, kernel headers, libcrypt...),
# nor the headers of libraries we never include (libxml2, ICU, GMP...).
# It then unpacks the pack into a scratch folder and checks that every
# library in it finds what it links against in the pack or in the base
# system, and writes .gpu-deps/MANIFEST (package, version, sha256, file; the
# newest glibc symbol version the pack needs; the base libraries it needs).
#   usage: scripts/gpu-pack.sh [DIR]      DIR defaults to <repo>/.gpu-deps
# Exit status: 0 when the pack is complete and checked; 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-$PWD/.gpu-deps}
arch=x86_64-linux-gnu
max_mib=48 # the device tool carries 64 MiB with the working tree (~3 MB)

# What the build includes and links (cmake/PersonaDeps.cmake), plus pkgconf.
roots=(liblmdb-dev libraptor2-dev libcjson-dev libopenblas-pthread-dev libcurl4-gnutls-dev
       zlib1g-dev libbz2-dev nettle-dev libutf8proc-dev pkgconf)
# The base system: any machine with a C toolchain has its own.
base='^(libc6|libc6-dev|libc-dev-bin|libc-bin|linux-libc-dev|libgcc-s1|libstdc\+\+6|gcc-[0-9]+-base|libcrypt1|libcrypt-dev|libnsl2|libnsl-dev|libtirpc3|libtirpc-dev|libtirpc-common|rpcsvc-proto)$'
# Not needed: the other OpenBLAS flavours and the packages that only choose
# one; headers of libraries that no header of ours includes (raptor2.h,
# curl.h and nettle/sha2.h do not include them): only their runtime library.
drop='^(libopenblas0|libopenblas-dev|libopenblas0-(openmp|serial)|libopenblas-(openmp|serial)-dev|libicu-dev|icu-devtools|libxml2-dev|libxslt1-dev|libyajl-dev|libgmp-dev|libgmpxx4ldbl)$'
# Shared libraries every glibc system has (checked below: nothing else may be
# missing from the pack).
base_libs=' libc.so.6 libm.so.6 libpthread.so.0 libdl.so.2 librt.so.1 libresolv.so.2 libutil.so.1 ld-linux-x86-64.so.2 libstdc++.so.6 libgcc_s.so.1 libcrypt.so.1 '

die() { echo "gpu-pack: $*" >&2; exit 1; }
for t in apt-get apt-cache dpkg-deb readelf sha256sum; do
    command -v "$t" >/dev/null || die "$t not found: run this on Debian 12 (bookworm), where the pack comes from"
done
[ "$(dpkg --print-architecture)" = amd64 ] || die "the GPU machine is x86-64: run this on an amd64 Debian"
. /etc/os-release
[ "${VERSION_CODENAME:-}" = bookworm ] ||
    echo "gpu-pack: warning: this is ${PRETTY_NAME:-an unknown system}, not Debian 12 (bookworm): the pack's glibc needs change" >&2

if ! apt-cache show --no-all-versions liblmdb-dev >/dev/null 2>&1; then
    echo "gpu-pack: apt-get update (no package lists yet)"
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get update -qq
fi

# Closure of the roots' Depends/Pre-Depends (no Recommends), minus the above.
mapfile -t pkgs < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
        --no-breaks --no-replaces --no-enhances "${roots[@]}" |
    grep -v '^ ' | grep -v '^<' | sort -u | grep -Ev "$base" | grep -Ev "$drop")
[ ${#pkgs[@]} -gt 0 ] || die "apt-cache depends found nothing"
for r in "${roots[@]}"; do
    printf '%s\n' "${pkgs[@]}" | grep -qx "$r" || die "root package $r fell out of the closure"
done

tmp=$(mktemp -d /tmp/gpu-pack.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/debs" "$tmp/root"
echo "gpu-pack: downloading ${#pkgs[@]} packages"
(cd "$tmp/debs" && apt-get download -q -o APT::Sandbox::User=root "${pkgs[@]}" >/dev/null) ||
    die "apt-get download failed"
n=$(ls "$tmp"/debs/*.deb | wc -l)
[ "$n" = ${#pkgs[@]} ] || die "downloaded $n files for ${#pkgs[@]} packages"

# Check: unpack, then every ELF file's DT_NEEDED must be in the pack or base.
for f in "$tmp"/debs/*.deb; do dpkg-deb -x "$f" "$tmp/root"; done
declare -A have=()
while IFS= read -r -d '' f; do have[$(basename "$f")]=1; done < <(find "$tmp/root" -name '*.so*' -print0)
missing="" needs_base="" glibc="GLIBC_2.2.5"
while IFS= read -r -d '' f; do
    [ "$(head -c 4 "$f" | tail -c 3)" = ELF ] || continue
    for lib in $(readelf -d "$f" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
        if [ -n "${have[$lib]:-}" ]; then :
        elif [[ $base_libs == *" $lib "* ]]; then
            [[ " $needs_base " == *" $lib "* ]] || needs_base="$needs_base $lib"
        else missing="$missing ${f#"$tmp"/root}:$lib"; fi
    done
    v=$(readelf -V "$f" 2>/dev/null | grep -o 'GLIBC_2\.[0-9.]*' | sort -uV | tail -1 || true)
    [ -n "$v" ] && glibc=$(printf '%s\n%s\n' "$glibc" "$v" | sort -V | tail -1)
done < <(find "$tmp/root" -type f \( -name '*.so*' -o -path '*/bin/*' \) -print0)
[ -z "$missing" ] || die "libraries missing from the pack:$missing"
for h in lmdb.h raptor2/raptor2.h cjson/cJSON.h $arch/curl/curl.h zlib.h bzlib.h nettle/sha2.h utf8proc.h \
         $arch/openblas-pthread/cblas.h; do
    [ -f "$tmp/root/usr/include/$h" ] || die "header $h is not in the pack"
done
for pc in lmdb raptor2 libcjson libcurl nettle libutf8proc zlib; do
    [ -f "$tmp/root/usr/lib/$arch/pkgconfig/$pc.pc" ] || die "$pc.pc is not in the pack"
done
[ -f "$tmp/root/usr/lib/$arch/openblas-pthread/pkgconfig/openblas.pc" ] || die "openblas.pc is not in the pack"
[ -x "$tmp/root/usr/bin/pkgconf" ] || die "pkgconf is not in the pack"

# Replace the pack.
mkdir -p "$dir"
rm -f "$dir"/*.deb "$dir/MANIFEST"
mv "$tmp"/debs/*.deb "$dir"/
{
    echo "# .gpu-deps: Debian packages for scripts/gpu-check.sh on a machine without them"
    echo "# written by scripts/gpu-pack.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ) from ${PRETTY_NAME:-?} $(dpkg --print-architecture)"
    echo "# glibc: $glibc or newer (the newest glibc symbol version the pack uses)"
    echo "# base libraries the machine must have:$needs_base"
    echo "# package version sha256 file"
    for f in "$dir"/*.deb; do
        printf '%s %s %s %s\n' "$(dpkg-deb -f "$f" Package)" "$(dpkg-deb -f "$f" Version)" \
            "$(sha256sum "$f" | cut -d' ' -f1)" "$(basename "$f")"
    done
} > "$dir/MANIFEST"
kib=$(du -ck "$dir"/*.deb | tail -1 | cut -f1)
echo "gpu-pack: $dir: $n packages, $((kib / 1024)).$(((kib % 1024) * 10 / 1024)) MiB; needs $glibc+ and$needs_base"
if [ "$kib" -gt $((max_mib * 1024)) ]; then
    die "the pack is over ${max_mib} MiB: the device tool carries 64 MiB with the working tree"
fi
