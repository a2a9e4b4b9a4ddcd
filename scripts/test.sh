#!/usr/bin/env bash
# Builds everything and runs every test: a normal build, then an
# AddressSanitizer + UndefinedBehaviorSanitizer build of the tests.
# Installs missing Debian packages first. GPU tests skip (exit 77) without a GPU.
#   usage: scripts/test.sh            (from anywhere)
#   env:   PE_SKIP_SANITIZE=1 to run only the normal build
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh --fuzz
jobs=$(nproc 2>/dev/null || echo 2)
cuda=OFF
[ -x /usr/local/cuda/bin/nvcc ] && cuda=ON
echo "== build (Release, CUDA backend $cuda)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DPE_WERROR=ON -DPE_CUDA=$cuda -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc >/dev/null
cmake --build build -j "$jobs"
echo "== tests"
(cd build && ctest --output-on-failure -j "$jobs")
if [ "${PE_SKIP_SANITIZE:-0}" != 1 ]; then
  echo "== sanitizer build (ASan + UBSan)"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPE_SANITIZE=ON -DPE_WERROR=ON -DPE_BUILD_BENCH=OFF \
        -DPE_BUILD_FUZZERS=OFF >/dev/null
  cmake --build build-asan -j "$jobs"
  echo "== sanitizer tests"
  # (tests/CMakeLists.txt gives every test its ASan/LSan/UBSan options)
  (cd build-asan && ctest --output-on-failure -j "$jobs")
fi
