#!/usr/bin/env bash
# Start-up cost: a `persona kg` command does not pay for the encoder. It
# loads neither OpenBLAS (whose thread pool spins at load) nor, in a CUDA
# build, any CUDA library (cuBLAS alone cost about 0.1 s); `persona encode`
# with a model does load OpenBLAS (so that the check can see a load).
#   usage: test_startup.sh PERSONA FIXTURES CUDA(ON|OFF)
set -u
persona=$1 fixtures=$2 cuda=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$persona" demo --db "$tmp/kg" >/dev/null || { echo "persona demo failed"; exit 1; }
# the shared objects a command opens, from the dynamic loader itself
libs() { LD_DEBUG=files LD_DEBUG_OUTPUT="$tmp/ld" "$@" >/dev/null 2>&1 </dev/null
         cat "$tmp"/ld.* 2>/dev/null | grep -o 'file=[^ ]*' | sort -u; rm -f "$tmp"/ld.*; }
fail=0
for cmd in "kg stats" "kg lookup Paris" "kg types Q90"; do
  l=$(libs "$persona" $cmd --db "$tmp/kg")
  [ -n "$l" ] || { echo "LD_DEBUG gave nothing for $cmd"; exit 1; }
  if grep -qi openblas <<<"$l"; then echo "persona $cmd loads OpenBLAS:"; grep -i openblas <<<"$l"; fail=1; fi
  if grep -qE 'libcu(da|dart|blas)|libnv' <<<"$l"; then echo "persona $cmd loads CUDA:"; grep -E 'libcu(da|dart|blas)|libnv' <<<"$l"; fail=1; fi
done
l=$(echo "hello world" | { LD_DEBUG=files LD_DEBUG_OUTPUT="$tmp/ld" "$persona" encode --model "$fixtures/encoder/tiny-f32" \
      --backend cpu --pool mean >/dev/null 2>&1; cat "$tmp"/ld.* | grep -o 'file=[^ ]*' | sort -u; })
grep -qi openblas <<<"$l" || { echo "persona encode did not load OpenBLAS (is the check blind?)"; fail=1; }
[ $fail = 0 ] || exit 1
if [ "$cuda" != ON ]; then echo "startup ok: no OpenBLAS for kg commands (CPU build: no CUDA library to check)"; exit 0; fi
echo "startup ok: no OpenBLAS and no CUDA library for kg commands"
