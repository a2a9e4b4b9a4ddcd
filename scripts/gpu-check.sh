#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: builds with the CUDA backend (build-gpu/),
# runs the CUDA tests verbosely (test_cuda: CUDA against the CPU reference in
# every precision; test_cuda_api; test_cuda_emu), test_cuda under
# compute-sanitizer when the toolkit has it, an end-to-end `persona encode`
# CPU vs CUDA comparison, the CUDA throughput (pe_bench_cuda) and the
# encoder benchmark (pe_bench_encoder --backend cuda, base and small models,
# each precision, the issue's shapes plus batches of 128 and 256), with
# nvidia-smi before and after. Everything goes to one log.
# Dependencies: the system's when pkg-config finds every module; else, on a
# machine that cannot install anything, the Debian packages that
# scripts/gpu-pack.sh put in .gpu-deps/ (checked against .gpu-deps/MANIFEST,
# unpacked into the private sysroot <build folder>/deps-root, which the build alone
# uses: pkg-config sees only its .pc files, and the programs built find its
# libraries through their RPATH); else scripts/deps.sh (apt-get).
#   usage: scripts/gpu-check.sh [LOG]
#          LOG defaults to $OUT/gpu-check.log when $OUT is set (the files of
#          the run are copied there too), else build-gpu/gpu-check.log.
#          scripts/gpu-check.sh --deps: only the dependency step; with the
#          pack it prints the file to source for a build by hand.
#   env:   CUDACXX (nvcc, default /usr/local/cuda/bin/nvcc, else nvcc on PATH),
#          PE_GPU_CHECK_DEPS (auto: as above, the default; pack: the pack even
#          when the system has the packages; system: never the pack),
#          PE_GPU_CHECK_SYSROOT (where the pack is unpacked, default
#          <build folder>/deps-root), PE_GPU_CHECK_UNPACK=python (unpack with
#          python3 even where dpkg-deb exists: to test that path),
#          PE_GPU_CHECK_JOBS (build jobs, default nproc),
#          PE_GPU_CHECK_BUILD (build folder, default build-gpu),
#          PE_GPU_CHECK_BUDGET (seconds for the whole script, default 420:
#          a step that would run past it is cut short or skipped, and says so).
# Exit status: 0 when the build and every CUDA test passed; 1 otherwise, also
# when test_cuda skipped for want of a usable device (not a pass here).
# Benchmark figures never fail the script; a benchmark that errors does.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
root=$(pwd)
bd=${PE_GPU_CHECK_BUILD:-build-gpu}
deps_only=0
if [ "${1:-}" = --deps ]; then deps_only=1; shift; fi
outdir=${OUT:-}
if [ -n "$outdir" ]; then mkdir -p "$outdir" || outdir=""; fi
log=${1:-${outdir:+$outdir/gpu-check.log}}
[ $deps_only = 1 ] && log=/dev/null
log=${log:-$root/$bd/gpu-check.log}
case $log in /*) ;; *) log=$root/$log ;; esac
art=$(dirname "$log")           # benchmark files go beside the log
mkdir -p "$art" "$bd"
[ $deps_only = 1 ] || : > "$log"
nvcc=${CUDACXX:-/usr/local/cuda/bin/nvcc}
if [ -z "${CUDACXX:-}" ] && [ ! -x "$nvcc" ] && command -v nvcc >/dev/null; then nvcc=$(command -v nvcc); fi
jobs=${PE_GPU_CHECK_JOBS:-$(nproc 2>/dev/null || echo 2)}
budget=${PE_GPU_CHECK_BUDGET:-420}
t_start=$SECONDS
status=0
failed=()

say() { echo "$*" | tee -a "$log"; }
fail() { status=1; failed+=("$1"); say "FAILED: $1"; }
left() { echo $((budget - (SECONDS - t_start))); }
# run LIMIT_S CMD...: CMD with a time limit (cut to what is left of the
# budget), output to the terminal and the log; its exit status (124: timed out).
run() {
    local limit=$1 rem
    shift
    rem=$(left)
    if [ "$rem" -lt 15 ]; then
        say "\$ $* -- skipped: the time budget (${budget}s) is spent"
        return 124
    fi
    [ "$limit" -gt "$rem" ] && limit=$rem
    say "\$ $*"
    timeout -k 5 "$limit" "$@" 2>&1 | tee -a "$log"
    local rc=${PIPESTATUS[0]}
    [ "$rc" = 124 ] && say "(timed out after ${limit}s)"
    return "$rc"
}

# --- Dependencies -----------------------------------------------------------
modules=(lmdb raptor2 libcjson libcurl nettle libutf8proc zlib openblas)
arch=x86_64-linux-gnu
pack=$root/.gpu-deps
case $bd in /*) sysroot=$bd/deps-root ;; *) sysroot=$root/$bd/deps-root ;; esac
sysroot=${PE_GPU_CHECK_SYSROOT:-$sysroot} # the build's RPATH names it: it lives as long as the build
pack_cmake=() # the build's extra cmake arguments when it uses the pack

# unpack_deb DEB DIR: the files of DEB under DIR, without static libraries
# and documentation; dpkg-deb when there is one, else python3 (ar + tarfile;
# PE_GPU_CHECK_UNPACK=python forces that, to test it).
unpack_deb() {
    if [ -z "${PE_GPU_CHECK_UNPACK:-}" ] && command -v dpkg-deb >/dev/null && command -v tar >/dev/null; then
        dpkg-deb --fsys-tarfile "$1" |
            tar -x -C "$2" --exclude='*.a' --exclude='./usr/share/doc/*' --exclude='./usr/share/man/*'
        return
    fi
    python3 - "$1" "$2" <<'EOF'
import io, subprocess, sys, tarfile
deb, dest = sys.argv[1], sys.argv[2]
data = open(deb, "rb").read()
if data[:8] != b"!<arch>\n":
    sys.exit("%s: not a .deb (ar archive)" % deb)
pos, member = 8, None
while pos + 60 <= len(data):
    name = data[pos:pos + 16].decode().strip().rstrip("/")
    size = int(data[pos + 48:pos + 58].decode().strip())
    if name.startswith("data.tar"):
        member = (name, data[pos + 60:pos + 60 + size])
        break
    pos += 60 + size + (size & 1)
if member is None:
    sys.exit("%s: no data.tar member" % deb)
name, body = member
if name.endswith(".zst"):  # tarfile reads zstd only from Python 3.14
    try:
        body = subprocess.run(["zstd", "-dc"], input=body, stdout=subprocess.PIPE, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit("%s: %s needs the zstd program: %s" % (deb, name, e))
tf = tarfile.open(fileobj=io.BytesIO(body), mode="r:*")
keep = [m for m in tf.getmembers()
        if not m.name.endswith(".a") and not m.name.startswith(("./usr/share/doc/", "./usr/share/man/"))]
# the 'tar' filter keeps symbolic links to absolute paths (fixed up afterwards)
kw = {"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}
tf.extractall(dest, members=keep, **kw)
EOF
}

# use_pack: unpack .gpu-deps/*.deb into $sysroot (once per pack and place),
# then point pkg-config, the compiler, CMake and the programs' RPATH at it.
use_pack() {
    local f sum file want stamp libdirs pc glibc have
    [ -f "$pack/MANIFEST" ] || { say "no $pack/MANIFEST: run scripts/gpu-pack.sh"; return 1; }
    case $sysroot in *[!A-Za-z0-9_./+-]*)
        # spaces and the like would break the .pc files' flags and the RPATH
        [ -n "${PE_GPU_CHECK_SYSROOT:-}" ] && { say "PE_GPU_CHECK_SYSROOT=$sysroot: use letters, digits and _./+- only"; return 1; }
        sysroot=/tmp/persona-gpu-deps-root
        say "the build folder's path has characters that .pc files cannot take: sysroot $sysroot" ;;
    esac
    # Every .deb of the manifest, intact (a cut transfer shows here).
    while read -r _ _ sum file; do
        [ -f "$pack/$file" ] || { say "$pack/$file is missing (MANIFEST lists it)"; return 1; }
        [ "$(sha256sum "$pack/$file" | cut -d' ' -f1)" = "$sum" ] || { say "$pack/$file: sha256 differs from MANIFEST"; return 1; }
    done < <(grep -v '^#' "$pack/MANIFEST")
    glibc=$(sed -n 's/^# glibc: GLIBC_\([0-9.]*\).*/\1/p' "$pack/MANIFEST")
    have=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')
    if [ -n "$glibc" ] && [ -n "$have" ] && [ "$(printf '%s\n%s\n' "$glibc" "$have" | sort -V | head -1)" != "$glibc" ]; then
        say "WARNING: the pack needs glibc $glibc or newer; this machine has $have: its libraries will not load"
    fi
    want="$(sha256sum "$pack/MANIFEST" | cut -d' ' -f1) $sysroot"
    stamp=$sysroot/.unpacked
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        say "unpacking $(grep -vc '^#' "$pack/MANIFEST") packages of $pack into $sysroot"
        if [ -e "$sysroot" ] && [ ! -f "$sysroot/.gpu-check-sysroot" ] && [ -n "$(ls -A "$sysroot")" ]; then
            say "$sysroot exists and is not a sysroot of ours: not replacing it"; return 1
        fi
        rm -rf "$sysroot" && mkdir -p "$sysroot/bin" && : > "$sysroot/.gpu-check-sysroot" || return 1
        while read -r _ _ _ file; do
            unpack_deb "$pack/$file" "$sysroot" || { say "could not unpack $file"; return 1; }
        done < <(grep -v '^#' "$pack/MANIFEST")
        # Links to absolute paths (libz.so -> /lib/...) point into the sysroot.
        while IFS= read -r -d '' f; do
            ln -sfn "$sysroot$(readlink "$f")" "$f"
        done < <(find "$sysroot" -type l -lname '/*' -print0)
        # .pc files: /usr (prefix=, libdir=, -I, -L) becomes the sysroot's.
        for pc in "$sysroot"/usr/lib/$arch/pkgconfig/*.pc "$sysroot"/usr/lib/$arch/openblas-pthread/pkgconfig/*.pc \
                  "$sysroot"/usr/share/pkgconfig/*.pc "$sysroot"/usr/lib/pkgconfig/*.pc; do
            [ -f "$pc" ] || continue
            sed -i -E "s#(^[A-Za-z_.]+=|[[:space:]]-[IL]|[[:space:]])/usr(/|[[:space:]]|\$)#\1$sysroot/usr\2#g" "$pc"
        done
        # The pack's pkgconf, with its libpkgconf.
        printf '#!/bin/sh\n# the pkgconf of %s (written by scripts/gpu-check.sh)\nLD_LIBRARY_PATH=%s/usr/lib/%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} exec %s/usr/bin/pkgconf "$@"\n' \
            "$pack" "$sysroot" "$arch" "$sysroot" > "$sysroot/bin/pkg-config"
        chmod +x "$sysroot/bin/pkg-config"
        libdirs="$sysroot/usr/lib/$arch:$sysroot/lib/$arch:$sysroot/usr/lib/$arch/openblas-pthread"
        cat > "$sysroot/env.sh" <<EOF
# Build environment of the dependency pack (written by scripts/gpu-check.sh;
# source it in bash for a build by hand). Programs built with
# "\${pe_gpu_cmake_args[@]}" find the pack's libraries by their RPATH; other
# programs need LD_LIBRARY_PATH=\$PE_GPU_LIBDIRS.
export PE_GPU_SYSROOT=$sysroot
export PE_GPU_LIBDIRS=$libdirs
export PKG_CONFIG_LIBDIR=$sysroot/usr/lib/$arch/openblas-pthread/pkgconfig:$sysroot/usr/lib/$arch/pkgconfig:$sysroot/usr/share/pkgconfig
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
# keep -I/-L of the sysroot (pkgconf drops those in CPATH/LIBRARY_PATH)
export PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1 PKG_CONFIG_ALLOW_SYSTEM_LIBS=1
export CPATH=$sysroot/usr/include/$arch:$sysroot/usr/include\${CPATH:+:\$CPATH}
export LIBRARY_PATH=$libdirs\${LIBRARY_PATH:+:\$LIBRARY_PATH}
# Links without -rpath (tests/test_install.sh's) find the dependencies of the
# pack's libraries here; nothing reads it at run time.
export LD_RUN_PATH=$libdirs
export PATH=$sysroot/bin:\$PATH
export PKG_CONFIG=$sysroot/bin/pkg-config
pe_gpu_cmake_args=(-DPKG_CONFIG_EXECUTABLE=$sysroot/bin/pkg-config
    -DCMAKE_PREFIX_PATH=$sysroot/usr
    "-DCMAKE_INCLUDE_PATH=$sysroot/usr/include;$sysroot/usr/include/$arch"
    "-DCMAKE_LIBRARY_PATH=${libdirs//:/;}"
    "-DCMAKE_BUILD_RPATH=${libdirs//:/;}"
    "-DCMAKE_INSTALL_RPATH=${libdirs//:/;}"
    # DT_RPATH, not RUNPATH: it also serves the libraries' own dependencies
    # (libraptor2 -> libxml2 -> libicuuc), which RUNPATH does not.
    "-DCMAKE_EXE_LINKER_FLAGS=-Wl,--disable-new-dtags -Wl,-rpath-link,$libdirs"
    "-DCMAKE_SHARED_LINKER_FLAGS=-Wl,--disable-new-dtags -Wl,-rpath-link,$libdirs")
EOF
        echo "$want" > "$stamp"
    fi
    # shellcheck disable=SC1091
    . "$sysroot/env.sh"
    if ! "$sysroot/bin/pkg-config" --version >/dev/null 2>&1; then
        if command -v -p pkg-config >/dev/null; then
            say "the pack's pkgconf does not run here; using $(command -v -p pkg-config) with the pack's .pc files"
            PKG_CONFIG=$(command -v -p pkg-config)
            pe_gpu_cmake_args=("${pe_gpu_cmake_args[@]/#-DPKG_CONFIG_EXECUTABLE=*/-DPKG_CONFIG_EXECUTABLE=$PKG_CONFIG}")
        else
            say "neither the pack's pkgconf nor a pkg-config runs here"; return 1
        fi
    fi
    local miss=()
    for m in "${modules[@]}"; do "$PKG_CONFIG" --exists "$m" || miss+=("$m"); done
    [ ${#miss[@]} = 0 ] || { say "the pack lacks pkg-config modules: ${miss[*]}"; return 1; }
    pack_cmake=("${pe_gpu_cmake_args[@]}")
    # pkg_check_modules keeps what an earlier configure found in its cache
    if [ -f "$bd/CMakeCache.txt" ] && ! grep -q "^PKG_CONFIG_EXECUTABLE:.*=$sysroot/" "$bd/CMakeCache.txt"; then
        say "WARNING: $bd was configured without this pack; its cache keeps the system's libraries (use a fresh build folder)"
    fi
    say "dependencies: the pack ($pack, $(grep -vc '^#' "$pack/MANIFEST") packages), sysroot $sysroot"
    say "  pkg-config: $PKG_CONFIG; PKG_CONFIG_LIBDIR=$PKG_CONFIG_LIBDIR"
    say "  by hand: source $sysroot/env.sh; cmake ... \"\${pe_gpu_cmake_args[@]}\""
}

# setup_deps: the system's packages, else the pack, else scripts/deps.sh.
setup_deps() {
    local mode=${PE_GPU_CHECK_DEPS:-auto} missing=() m
    case $mode in auto|pack|system) ;; *) say "PE_GPU_CHECK_DEPS=$mode: expected auto, pack or system"; return 1 ;; esac
    for m in "${modules[@]}"; do
        pkg-config --exists "$m" 2>/dev/null || missing+=("$m")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        if command -v pkg-config >/dev/null; then say "missing pkg-config modules: ${missing[*]}"
        else say "no pkg-config on this machine"; fi
    fi
    if [ "$mode" = pack ] || { [ "$mode" = auto ] && [ ${#missing[@]} -gt 0 ]; }; then
        if compgen -G "$pack/*.deb" >/dev/null; then
            use_pack
            return
        fi
        if [ "$mode" = pack ]; then
            say "PE_GPU_CHECK_DEPS=pack but $pack has no .deb: run scripts/gpu-pack.sh"; return 1
        fi
        say "no dependency pack in $pack (scripts/gpu-pack.sh makes one)"
    fi
    if [ ${#missing[@]} -gt 0 ]; then
        say "trying scripts/deps.sh (Debian packages)"
        run 200 bash scripts/deps.sh || { say "scripts/deps.sh failed: the build will likely fail"; return 1; }
    fi
    say "dependencies: the system's (pkg-config modules ${modules[*]})"
}

if [ $deps_only = 1 ]; then
    setup_deps || exit 1
    [ ${#pack_cmake[@]} -gt 0 ] && echo "$sysroot/env.sh"
    exit 0
fi
# ----------------------------------------------------------------------------

rev="?"
if command -v git >/dev/null && git rev-parse --git-dir >/dev/null 2>&1; then
    rev=$(git rev-parse --short HEAD 2>/dev/null)
    git diff --quiet HEAD 2>/dev/null || rev="$rev (+ local changes)"
fi
say "== gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname), commit $rev, budget ${budget}s, log $log"

say "== nvidia-smi"
drv_cuda=""
if command -v nvidia-smi >/dev/null; then
    run 30 nvidia-smi
    run 30 nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,compute_cap --format=csv
    drv_cuda=$(nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\([0-9][0-9]*\.[0-9]*\).*/\1/p' | head -1)
else
    say "nvidia-smi not found: no NVIDIA driver on this machine"
fi

say "== toolchain"
run 20 "$nvcc" --version || say "nvcc not found at $nvcc (set CUDACXX)"
tk_cuda=$("$nvcc" --version 2>/dev/null | sed -n 's/.*release \([0-9][0-9]*\.[0-9]*\).*/\1/p' | head -1)
say "driver supports CUDA ${drv_cuda:-?}; toolkit is CUDA ${tk_cuda:-?}"
if [ -n "$drv_cuda" ] && [ -n "$tk_cuda" ] && [ "${drv_cuda%%.*}" -lt "${tk_cuda%%.*}" ]; then
    say "WARNING: the driver is older than the toolkit's major version: the CUDA runtime will refuse to start"
    say "         (cudaErrorInsufficientDriver); build with a toolkit the driver supports (CUDACXX=...)."
fi
cmake --version 2>&1 | head -1 | tee -a "$log"
say "== dependencies"
setup_deps || say "the build will likely fail"
gen=()
if [ ! -f "$bd/CMakeCache.txt" ] && ! command -v make >/dev/null && command -v ninja >/dev/null; then
    gen=(-G Ninja) # no make here (pip's cmake and ninja)
fi

say "== configure + build ($bd, Release, -DPE_CUDA=ON, $jobs jobs${gen[*]:+, ${gen[*]}})"
built=0
if run 120 cmake -S . -B "$bd" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DPE_CUDA=ON -DCMAKE_CUDA_COMPILER="$nvcc" \
        -DPE_BUILD_FUZZERS=OFF "${pack_cmake[@]}"; then
    if run 300 cmake --build "$bd" -j "$jobs"; then
        built=1
    else
        say "full build failed; building the CUDA targets only"
        run 200 cmake --build "$bd" -j "$jobs" --target test_cuda test_cuda_api pe_bench_encoder pe_bench_cuda && built=1
    fi
fi
[ $built = 1 ] || fail "build"
if [ $built = 1 ] && [ ${#pack_cmake[@]} -gt 0 ]; then
    say "== libraries of the programs built (from $sysroot, else the machine's)"
    for b in "$bd/cli/persona" "$bd/tests/test_cuda"; do
        [ -x "$b" ] && command -v ldd >/dev/null || continue
        say "\$ ldd $b"
        ldd "$b" 2>&1 | tee -a "$log"
        if ldd "$b" 2>&1 | grep -q 'not found'; then fail "ldd $b: libraries not found"; fi
    done
fi
tc="$bd/tests/test_cuda"
have_gpu=0

if [ $built = 1 ]; then
    say "== CUDA tests (ctest -R test_cuda -V: each test's differences per precision)"
    (cd "$bd" && run 240 ctest -R '^test_cuda' -V --timeout 230)
    rc=$?
    [ -f "$bd/Testing/Temporary/LastTest.log" ] && [ -n "$outdir" ] &&
        cp "$bd/Testing/Temporary/LastTest.log" "$outdir/ctest-cuda.log" 2>/dev/null
    [ $rc = 0 ] || fail "ctest -R test_cuda (exit $rc)"
    # ctest counts a skip (exit 77) as a pass; on a GPU machine it is not
    if grep -q "test_cuda \.*\**Skipped" "$log"; then
        fail "test_cuda skipped: no usable CUDA device (its 'skip:' line above says why)"
    elif grep -q "test_cuda \.*.*\(Passed\|Failed\|Exception\|Timeout\)" "$log"; then
        have_gpu=1 # it ran: the rest runs too, also to help diagnose a failure
    else
        fail "test_cuda did not run"
    fi
    say "== other tests labelled gpu"
    (cd "$bd" && run 120 ctest -L gpu -E '^test_cuda$' --output-on-failure) || fail "ctest -L gpu"
fi

if [ $have_gpu = 1 ]; then
    san=""
    for c in "$(command -v compute-sanitizer)" /usr/local/cuda/bin/compute-sanitizer \
             /usr/local/cuda/compute-sanitizer/compute-sanitizer; do
        [ -n "$c" ] && [ -x "$c" ] && { san=$c; break; }
    done
    say "== compute-sanitizer"
    if [ -z "$san" ]; then
        say "compute-sanitizer is not in this toolkit: skipped"
    else
        # memcheck: out-of-bounds and misaligned device accesses; racecheck and
        # synccheck: shared-memory races and barriers of the LayerNorm kernel.
        # A time-out here is slowness, not a finding.
        for t in "memcheck parity_small" "memcheck parity_wide" "memcheck long_sequences" \
                 "racecheck parity_small" "synccheck parity_small"; do
            # shellcheck disable=SC2086
            set -- $t # two words: tool, test
            run 90 "$san" --tool "$1" --error-exitcode 99 --report-api-errors no "$tc" --only "$2"
            rc=$?
            [ $rc = 0 ] || [ $rc = 124 ] || fail "compute-sanitizer --tool $1, test_cuda --only $2 (exit $rc)"
        done
    fi

    say "== persona encode: CUDA against CPU on the tiny PyTorch fixture"
    printf 'Hello world.\nThe capital of France is Paris, said Marie Curie in 1903.\nshort\n' > "$bd/e2e.txt"
    for be in cpu cuda; do
        say "\$ persona encode --model tests/fixtures/encoder/tiny-f32 --backend $be < $bd/e2e.txt"
        timeout 60 "$bd/cli/persona" encode --model tests/fixtures/encoder/tiny-f32 --backend "$be" \
            < "$bd/e2e.txt" > "$bd/e2e-$be.jsonl" 2>> "$log" || fail "persona encode --backend $be"
    done
    if run 30 python3 - "$bd/e2e-cpu.jsonl" "$bd/e2e-cuda.jsonl" <<'EOF'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert len(a) == len(b) and len(a) > 0, ("line counts", len(a), len(b))
m, n = 0.0, 0
for x, y in zip(a, b):
    for s, t in zip(x.get("tokens", []), y.get("tokens", [])):
        assert s["id"] == t["id"] and s["start"] == t["start"], "tokens differ"
        for u, v in zip(s["embedding"], t["embedding"]):
            m, n = max(m, abs(u - v)), n + 1
print("persona encode: %d values, max |CUDA - CPU| = %.3g" % (n, m))
sys.exit(0 if n > 0 and m <= 1e-4 else 1)
EOF
    then :; else fail "persona encode CUDA vs CPU"; fi

    bench="$bd/bench/pe_bench_encoder"
    say "== encoder benchmark (pe_bench_encoder --backend cuda)"
    if [ ! -x "$bench" ]; then
        say "skipped: $bench was not built"
    else
        shapes=1x32,1x128,8x32,8x128,32x32,32x128,128x128,256x128
        # One file for all runs, each line tagged with its config (the device
        # tool brings back at most 8 files from $OUT).
        : > "$art/bench-encoder.jsonl"
        for cfg in small base; do
            for prec in fp32 tf32 bf16; do
                say "-- $cfg, PE_CUDA_PRECISION=$prec"
                j="$art/bench-$cfg-$prec.jsonl.tmp"
                run 90 env PE_CUDA_PRECISION=$prec "$bench" --backend cuda --config "$cfg" --shapes "$shapes" \
                    --min-time 0.3 --json "$j" || fail "pe_bench_encoder $cfg $prec"
                [ -f "$j" ] && sed "s/^{/{\"config\": \"$cfg\", /" "$j" >> "$art/bench-encoder.jsonl"
                rm -f "$j"
            done
        done
    fi

    say "== CUDA throughput of the backend alone (pe_bench_cuda: forward incl. host copies)"
    run 150 "$bd/bench/pe_bench_cuda" "$art/gpu-bench.txt" || fail "pe_bench_cuda"
elif [ $built = 1 ]; then
    say "no usable GPU: compute-sanitizer, persona encode and the benchmarks were not run"
fi

# Last, with what is left of the budget: the unit and golden tests, where
# --backend auto now picks the GPU (persona encode's CLI tests, for one).
if [ $have_gpu = 1 ]; then
    say "== the other unit and golden tests (AUTO picks CUDA here)"
    if [ "$(left)" -ge 90 ]; then
        (cd "$bd" && run 240 ctest -L 'unit|golden' -E '^test_cuda' -j "$jobs" --output-on-failure)
        rc=$?
        [ $rc = 124 ] && say "(cut by the time budget: not counted)"
        [ $rc = 0 ] || [ $rc = 124 ] || fail "ctest -L 'unit|golden' on the GPU machine"
    else
        say "skipped: less than 90 s of the budget left"
    fi
fi

say "== nvidia-smi (after)"
if command -v nvidia-smi >/dev/null; then
    run 20 nvidia-smi --query-gpu=name,memory.used,temperature.gpu,clocks.sm --format=csv
fi
if [ -n "$outdir" ] && [ "$art" != "$outdir" ]; then
    cp "$log" "$art"/gpu-bench.txt "$art"/bench-*.jsonl "$outdir"/ 2>/dev/null
fi
say "== gpu-check finished in $((SECONDS - t_start))s: $([ $status = 0 ] && echo PASS || echo FAIL)"
for f in "${failed[@]}"; do say "   failed: $f"; done
say "   log: $log"
exit $status
