#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: builds with the CUDA backend, runs the GPU
# tests, the CUDA throughput figures and the encoder benchmark
# (pe_bench_encoder --backend cuda, base and small models, each precision),
# and records everything in a log.
#   usage: scripts/gpu-check.sh [LOG]     (default build-gpu/gpu-check.log)
#   env:   CUDACXX (nvcc path, default /usr/local/cuda/bin/nvcc),
#          PE_GPU_CHECK_JOBS (build jobs, default nproc)
# Exit status: 0 when the build and every GPU test passed, 1 otherwise
# (also when no GPU was found: the test then skips, which is not a pass here).
# Meant to finish in under ~8 minutes; each step has its own time limit.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
root=$(pwd)
log=${1:-$root/build-gpu/gpu-check.log}
mkdir -p "$(dirname "$log")" build-gpu
: > "$log"
nvcc=${CUDACXX:-/usr/local/cuda/bin/nvcc}
jobs=${PE_GPU_CHECK_JOBS:-$(nproc 2>/dev/null || echo 2)}
status=0

say() { echo "$*" | tee -a "$log"; }
# run LIMIT_S CMD...: runs CMD with a time limit, output to the terminal and the log.
run() {
    local limit=$1
    shift
    say "\$ $*"
    timeout "$limit" "$@" 2>&1 | tee -a "$log"
    local rc=${PIPESTATUS[0]}
    [ "$rc" = 124 ] && say "(timed out after ${limit}s)"
    return "$rc"
}

say "== gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (+ local changes)')"
say "== nvidia-smi"
if command -v nvidia-smi >/dev/null; then
    run 30 nvidia-smi || true
    run 30 nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv || true
else
    say "nvidia-smi not found: no NVIDIA driver on this machine"
    status=1
fi
say "== toolchain"
run 10 "$nvcc" --version || { say "nvcc not found at $nvcc (set CUDACXX)"; status=1; }
cmake --version 2>&1 | head -1 | tee -a "$log"
missing=()
for m in lmdb raptor2 libcjson libcurl nettle libutf8proc zlib openblas; do
    pkg-config --exists "$m" 2>/dev/null || missing+=("$m")
done
[ ${#missing[@]} -gt 0 ] && say "missing pkg-config modules: ${missing[*]} (scripts/deps.sh installs them; needs network)"

say "== configure + build (build-gpu, -DPE_CUDA=ON, $jobs jobs)"
built=0
rc=1
if run 120 cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DPE_CUDA=ON -DCMAKE_CUDA_COMPILER="$nvcc" \
        -DPE_BUILD_FUZZERS=OFF; then
    if run 300 cmake --build build-gpu -j "$jobs"; then
        built=1
    else
        say "full build failed; building the CUDA test targets only"
        run 240 cmake --build build-gpu -j "$jobs" --target test_cuda test_cuda_api && built=1
    fi
fi
[ $built = 1 ] || { say "BUILD FAILED"; status=1; }

if [ $built = 1 ]; then
    say "== ctest -L gpu"
    (cd build-gpu && run 240 ctest -L gpu --output-on-failure --timeout 200) || status=1
    say "== ctest -R test_cuda_api"
    (cd build-gpu && run 60 ctest -R test_cuda_api --output-on-failure) || status=1
    say "== test_cuda, verbose (differences per precision)"
    run 200 build-gpu/tests/test_cuda
    rc=$?
    # ctest counts a skip (exit 77) as a pass: on a GPU machine it is not.
    [ $rc = 0 ] || status=1
fi
if [ $built = 1 ] && [ $rc = 77 ]; then
    say "test_cuda SKIPPED: no usable CUDA device was found; no benchmark run"
elif [ $built = 1 ]; then
    say "== CUDA throughput (test_cuda --bench: random weights, forward incl. host copies)"
    run 240 build-gpu/tests/test_cuda --bench "$root/build-gpu/gpu-bench.txt" || status=1

    bench=""
    for b in build-gpu/bench/pe_bench_encoder build-gpu/bench/encoder_bench build-gpu/bench/*encoder*; do
        [ -x "$b" ] && [ -f "$b" ] && { bench=$b; break; }
    done
    say "== encoder benchmark"
    if [ -z "$bench" ]; then
        say "skipped: no encoder benchmark program in build-gpu/bench/"
    elif "$bench" --help 2>&1 | grep -q -- "--backend"; then
        for cfg in base small; do
            for prec in fp32 tf32 bf16; do
                say "-- $cfg, PE_CUDA_PRECISION=$prec"
                PE_CUDA_PRECISION=$prec run 120 "$bench" --backend cuda --config "$cfg" --min-time 0.5 || status=1
            done
        done
    else
        say "skipped: $bench has no --backend option (its --help does not mention one)"
    fi
fi

say "== nvidia-smi (after)"
if command -v nvidia-smi >/dev/null; then run 30 nvidia-smi --query-gpu=name,memory.used,temperature.gpu --format=csv; fi
say "== gpu-check finished: $([ $status = 0 ] && echo PASS || echo FAIL); log: $log"
exit $status
