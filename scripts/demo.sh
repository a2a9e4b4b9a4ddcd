#!/usr/bin/env bash
# Builds persona and runs the main job on its embedded defaults (the demo
# knowledge graph shipped inside the binary). Installs missing Debian
# packages first.
#   usage: scripts/demo.sh [persona demo options, e.g. --db DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" --target persona_cli
exec build/cli/persona demo "$@"
