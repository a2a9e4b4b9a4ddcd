#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: builds with the CUDA backend (build-gpu/),
# runs the CUDA tests verbosely (test_cuda: CUDA against the CPU reference in
# every precision; test_cuda_api; test_cuda_emu), test_cuda under
# compute-sanitizer when the toolkit has it, an end-to-end `persona encode`
# CPU vs CUDA comparison, the CUDA throughput (test_cuda --bench) and the
# encoder benchmark (pe_bench_encoder --backend cuda, base and small models,
# each precision, the issue's shapes plus batches of 128 and 256), with
# nvidia-smi before and after. Everything goes to one log.
#   usage: scripts/gpu-check.sh [LOG]
#          LOG defaults to $OUT/gpu-check.log when $OUT is set (the files of
#          the run are copied there too), else build-gpu/gpu-check.log.
#   env:   CUDACXX (nvcc, default /usr/local/cuda/bin/nvcc),
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
outdir=${OUT:-}
if [ -n "$outdir" ]; then mkdir -p "$outdir" || outdir=""; fi
log=${1:-${outdir:+$outdir/gpu-check.log}}
log=${log:-$root/$bd/gpu-check.log}
case $log in /*) ;; *) log=$root/$log ;; esac
art=$(dirname "$log")           # benchmark files go beside the log
mkdir -p "$art" "$bd"
: > "$log"
nvcc=${CUDACXX:-/usr/local/cuda/bin/nvcc}
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
missing=()
for m in lmdb raptor2 libcjson libcurl nettle libutf8proc zlib openblas; do
    pkg-config --exists "$m" 2>/dev/null || missing+=("$m")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "missing pkg-config modules: ${missing[*]}; trying scripts/deps.sh (Debian packages)"
    run 200 bash scripts/deps.sh || say "scripts/deps.sh failed: the build will likely fail"
fi

say "== configure + build ($bd, Release, -DPE_CUDA=ON, $jobs jobs)"
built=0
if run 120 cmake -S . -B "$bd" -DCMAKE_BUILD_TYPE=Release -DPE_CUDA=ON -DCMAKE_CUDA_COMPILER="$nvcc" \
        -DPE_BUILD_FUZZERS=OFF; then
    if run 300 cmake --build "$bd" -j "$jobs"; then
        built=1
    else
        say "full build failed; building the CUDA targets only"
        run 200 cmake --build "$bd" -j "$jobs" --target test_cuda test_cuda_api pe_bench_encoder && built=1
    fi
fi
[ $built = 1 ] || fail "build"
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
        for cfg in small base; do
            for prec in fp32 tf32 bf16; do
                say "-- $cfg, PE_CUDA_PRECISION=$prec"
                run 90 env PE_CUDA_PRECISION=$prec "$bench" --backend cuda --config "$cfg" --shapes "$shapes" \
                    --min-time 0.3 --json "$art/bench-$cfg-$prec.jsonl" || fail "pe_bench_encoder $cfg $prec"
            done
        done
    fi

    say "== CUDA throughput of the backend alone (test_cuda --bench: forward incl. host copies)"
    run 150 "$tc" --bench "$art/gpu-bench.txt" || fail "test_cuda --bench"
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
