#!/usr/bin/env bash
# MLM training throughput (issue 8): full steps (forward with dropout, MLM
# head loss, backward, clipping, AdamW) of the small configuration (4
# layers, hidden 256, 4 heads, intermediate 1024, vocabulary 16000, 32 x 128
# tokens, 15 % masked), ours (bench/train_bench.c, pe_bench_train) against
# PyTorch doing the same step (scripts/bench_train_torch.py) on the same
# machine in the same run, 2 threads each, interleaved: ours, torch, ours,
# torch, ... so that a change of load hits both. Then one thread each,
# timed by process CPU time (steadier on a shared machine). Writes the
# "## MLM training step" section of docs/BENCHMARKS.md.
#
#   usage: scripts/bench-train.sh [--rounds N] [--steps N] [--no-cpu1] [--no-docs] [--report-only]
#   env:   PE_BENCH_BUILD  build folder (default build-bench-train; an existing one is set to Release)
#          PE_BENCH_DIR    raw results (default /tmp/pe-bench-train)
#          PE_BENCH_NICE   nice level of both sides (default 0)
#
# PyTorch: Debian's python3-torch as /usr/bin/python3 (../shared/tools/install-peers.sh);
# without it ours runs alone and the section says so.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${PE_BENCH_BUILD:-build-bench-train}
work=${PE_BENCH_DIR:-/tmp/pe-bench-train}
nice_level=${PE_BENCH_NICE:-0}
rounds=2
steps=5
cpu1=1
docs=1
report_only=0
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=$2; shift ;;
    --steps) steps=$2; shift ;;
    --no-cpu1) cpu1=0 ;;
    --no-docs) docs=0 ;;
    --report-only) report_only=1 ;;
    -h|--help) sed -n 2,17p "$0"; exit 0 ;;
    *) echo "bench-train: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$work"
log() { echo "== $*" >&2; }
run() { nice -n "$nice_level" "$@"; }

if [ $report_only = 0 ]; then
  cut -d' ' -f1-3 /proc/loadavg > "$work/load_start"
  date -u +"%Y-%m-%d %H:%M" > "$work/time_start"
  log "build ($build)"
  # a fresh folder builds only the library and the benchmarks; an existing
  # one (PE_BENCH_BUILD=build) keeps its other options, only Release and
  # the benchmarks are asked for
  if [ -f "$build/CMakeCache.txt" ]; then
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DPE_BUILD_BENCH=ON >/dev/null
  else
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DPE_BUILD_BENCH=ON -DPE_BUILD_TESTS=OFF -DPE_BUILD_CLI=OFF >/dev/null
  fi
  cmake --build "$build" -j2 --target pe_bench_train >/dev/null
  have_torch=0
  if /usr/bin/python3 -c 'import torch' 2>/dev/null; then have_torch=1; else
    log "PyTorch absent (/usr/bin/python3 cannot import torch; run ../shared/tools/install-peers.sh): ours alone"
  fi
  rm -f "$work"/*.jsonl "$work"/*.txt
  export OPENBLAS_NUM_THREADS=2
  for round in $(seq 1 "$rounds"); do
    log "round $round: ours (load $(cut -d' ' -f1 /proc/loadavg))"
    run "$build/bench/pe_bench_train" --threads 2 --steps "$steps" --json "$work/wall.jsonl" | tee -a "$work/ours.txt" >&2
    if [ $have_torch = 1 ]; then
      log "round $round: PyTorch (load $(cut -d' ' -f1 /proc/loadavg))"
      OMP_WAIT_POLICY=passive OMP_NUM_THREADS=2 run /usr/bin/python3 scripts/bench_train_torch.py --threads 2 \
          --steps "$steps" --json "$work/wall.jsonl" | tee -a "$work/torch.txt" >&2
    fi
  done
  if [ $cpu1 = 1 ]; then
    export OPENBLAS_NUM_THREADS=1
    log "ours, 1 thread, CPU time"
    run "$build/bench/pe_bench_train" --threads 1 --steps 3 --cpu-time --json "$work/cpu1.jsonl" | tee -a "$work/ours.txt" >&2
    log "ours, 1 thread, CPU time, the last layer on every row"
    run "$build/bench/pe_bench_train" --threads 1 --steps 3 --cpu-time --all-rows --json "$work/cpu1.jsonl" | tee -a "$work/ours.txt" >&2
    if [ $have_torch = 1 ]; then
      log "PyTorch, 1 thread, CPU time"
      OMP_WAIT_POLICY=passive OMP_NUM_THREADS=1 run /usr/bin/python3 scripts/bench_train_torch.py --threads 1 \
          --steps 3 --cpu-time --json "$work/cpu1.jsonl" | tee -a "$work/torch.txt" >&2
    fi
  fi
  cut -d' ' -f1-3 /proc/loadavg > "$work/load_end"
  date -u +"%H:%M" > "$work/time_end"
  /usr/bin/python3 -c 'import torch; print(torch.__version__)' > "$work/torch_version" 2>/dev/null || true
fi
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')

python3 - "$work" "$docs" "$root/docs/BENCHMARKS.md" "$cpu" "$nice_level" <<'EOF'
import json, os, sys
work, docs, md_path, cpu, nice_level = sys.argv[1:6]

def read(name, default=""):
    try:
        with open(os.path.join(work, name)) as f:
            return f.read().strip() or default
    except OSError:
        return default

def records(name):
    out = {"ours": [], "torch": [], "ours_all_rows": []}
    try:
        with open(os.path.join(work, name)) as f:
            for line in f:
                if line.strip().startswith("{"):
                    r = json.loads(line)
                    out[r["peer"]].append(r)
    except FileNotFoundError:
        pass
    return out

wall, cpu1 = records("wall.jsonl"), records("cpu1.jsonl")
if not wall["ours"]:
    sys.exit("bench-train: no results in " + work)
T = wall["ours"][0]["batch"] * wall["ours"][0]["seq"]
load0, load1 = read("load_start", "?"), read("load_end", "?")
tv = read("torch_version", "?")
out = ["## MLM training step\n"]
out.append(f"Run {read('time_start')}-{read('time_end')} UTC with `scripts/bench-train.sh` on {cpu} (2 cores);"
           f" load average (1, 5, 15 min) **{load0}** at the start, {load1} at the end"
           + (f"; both sides at nice {nice_level}" if nice_level != "0" else "") + ".")
out.append("One full MLM update of the small configuration (`models/mlm-small.json`: 4 layers, hidden 256, 4 heads,"
           " intermediate 1024, vocabulary 16000, 7.37M parameters with the head) on a batch of 32 sequences of 128"
           " tokens: forward with dropout 0.1, BertForMaskedLM head (decoder tied to the word embeddings) on the 15 %"
           " masked tokens, mean cross-entropy, backward, `clip_grad_norm_(1.0)`, AdamW (betas 0.9/0.98, eps 1e-6,"
           " weight decay 0.01). Ours: `pe_bench_train` (pe_train_forward, pe_mlm_head_loss, pe_train_backward,"
           " pe_params_clip_grad_norm, pe_adamw_step, as pe_trainer_run's update; as the trainer, the last layer"
           " after its attention runs on the masked tokens' rows only, the only ones the MLM head reads: the same"
           " loss and gradients up to the order of sums, tests/test_train.c). PyTorch"
           f" {tv} (Debian; `scripts/bench_train_torch.py`): the same model in plain torch (fused QKV projection,"
           " batched attention, the head only on the masked rows as ours), `torch.set_num_threads(2)`,"
           " `OMP_WAIT_POLICY=passive`, default (single-tensor) AdamW. Random weights N(0, 0.02), random"
           " token ids, a new mask each step. Each run: one untimed warm-up step, then >= 5 timed steps; the sides"
           " ran interleaved (ours, torch, ours, torch, ...). Tokens/s = 4096 / step time.\n")
try:
    busy = float(load0.split()[0]) > 1.5
except (ValueError, IndexError):
    busy = True
if busy:
    out.append("**The machine was loaded during this run (see the load average: other training runs and jobs on both"
               " cores): each side got a varying share of the 2 cores, so the wall-clock figures are"
               " well below what an idle machine gives and the ratio carries that noise; the one-thread CPU-time"
               " table is the steadier comparison.**\n")
if not wall["torch"]:
    out.append("**PyTorch was absent for this run (see ../shared/tools/install-peers.sh): no peer figures.**\n")
out.append("| run | ours tok/s (median step) | torch tok/s (median step) | ours/torch | ours best step tok/s | torch best step tok/s |")
out.append("|---|---:|---:|---:|---:|---:|")
for i, o in enumerate(wall["ours"]):
    t = wall["torch"][i] if i < len(wall["torch"]) else None
    out.append(f"| round {i + 1} | {T / o['median_s']:.0f} | {T / t['median_s']:.0f} | {t['median_s'] / o['median_s']:.2f}x"
               f" | {T / o['best_s']:.0f} | {T / t['best_s']:.0f} |" if t else
               f"| round {i + 1} | {T / o['median_s']:.0f} | - | - | {T / o['best_s']:.0f} | - |")
ratio = None
if wall["torch"]:
    bo = min(r["median_s"] for r in wall["ours"])
    bt = min(r["median_s"] for r in wall["torch"])
    ratio = bt / bo
    out.append(f"| best round | {T / bo:.0f} | {T / bt:.0f} | **{ratio:.2f}x** | {T / min(r['best_s'] for r in wall['ours']):.0f}"
               f" | {T / min(r['best_s'] for r in wall['torch']):.0f} |")
out.append("")
if cpu1["ours"]:
    o = cpu1["ours"][0]
    t = cpu1["torch"][0] if cpu1["torch"] else None
    out.append("One thread each, timed by process CPU time (what one core spends on a step):\n")
    out.append("| | ours | torch | ours/torch |")
    out.append("|---|---:|---:|---:|")
    out.append(f"| tok/CPU-s (median step) | {T / o['median_s']:.0f} | {T / t['median_s']:.0f} | {t['median_s'] / o['median_s']:.2f}x |"
               if t else f"| tok/CPU-s (median step) | {T / o['median_s']:.0f} | - | - |")
    if cpu1["ours_all_rows"]:
        a = cpu1["ours_all_rows"][0]
        out.append(f"| the same, ours with the last layer on every row (as BertForMaskedLM) | {T / a['median_s']:.0f} |"
                   + (f" {T / t['median_s']:.0f} | {t['median_s'] / a['median_s']:.2f}x |" if t else " - | - |"))
    out.append("")
phase_rows = [("ours, 2 threads", wall["ours"]), ("torch, 2 threads", wall["torch"]),
              ("ours, 1 thread CPU", cpu1["ours"]), ("torch, 1 thread CPU", cpu1["torch"])]
out.append("Mean seconds per phase (ours: the head's loss phase includes the head's backward, which for torch is"
           " part of `backward`):\n")
out.append("| | forward | MLM loss | backward | clip | AdamW |")
out.append("|---|---:|---:|---:|---:|---:|")
for name, rs in phase_rows:
    if not rs:
        continue
    ph = {k: sum(r["phases"][k] for r in rs) / len(rs) for k in rs[0]["phases"]}
    out.append(f"| {name} | " + " | ".join(f"{ph[k]:.3f}" for k in ("forward", "mlm_loss", "backward", "clip", "adamw")) + " |")
out.append("")
if ratio is not None:
    out.append("Target: ours >= 1.5x PyTorch. " + ("Met in this run." if ratio >= 1.5 else
               f"Missed in this run ({ratio:.2f}x, best round against best round)."))
    out.append("")
section = "\n".join(out).rstrip() + "\n"
print(section)
if docs == "1":
    text = open(md_path).read() if os.path.exists(md_path) else "# Benchmarks\n"
    lines = text.split("\n")
    start = next((i for i, l in enumerate(lines) if l.strip() == "## MLM training step"), None)
    if start is None:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        before, after = "\n".join(lines[:start]), "\n".join(lines[end:])
        text = (before + "\n" if before else "") + section + ("\n" + after if after else "")
    with open(md_path, "w") as f:
        f.write(text)
    print(f"(written to {md_path})", file=sys.stderr)
EOF
