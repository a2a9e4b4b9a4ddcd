#!/usr/bin/env bash
# The worth of MLM pretraining, the graph feature and the word-shape feature:
# trains one model per arm from the committed recipes and measures each on
# the test sets (fp32 and bf16), as docs/MODEL_CARD.md reports.
#   tag-pre      models/tagger-small.json from the pretrained encoder (the shipped recipe)
#   tag-scratch  the same with --init none (no pretraining)
#   tag-graph    the same with --graph KG (the NER graph feature)
#   tag-shape    the same with --shape (the NER word-shape feature)
#   tag-sgns     the same from an encoder whose word embeddings are skip-gram
#                vectors of the MLM corpus (persona train embed), no MLM
#   conll-pre, conll-scratch, conll-graph, conll-shape, conll-sgns: models/conll-small.json alike
#                (CoNLL-2003: measurement only, never shipped)
#   Parts combine with +: tag-sgns+shape, conll-sgns+shape+graph, ...
# WNUT-17 test and PersonaExt test for tag-*, CoNLL-2003 test for conll-*.
# An arm whose RUNS/ARM/model.pem exists is only evaluated. Reads
# ../shared/data; long (25-40 min an arm on one core): run it in the background.
#   usage: scripts/model-ablations.sh [--runs DIR] [--init MLM_BEST] [--kg KG_DIR] [--threads N] [--steps N] [ARM...]
#   ($PERSONA_BIN: the persona binary to use, default build/cli/persona)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${PERSONA_RUNS:-../runs}
init=""
kg=""
threads=1
steps=""
arms=()
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --init) init=$2; shift 2 ;;
    --kg) kg=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --steps) steps="--steps $2"; shift 2 ;;
    -h|--help) sed -n 2,18p "$0"; exit 0 ;;
    -*) echo "model-ablations.sh: unknown option $1" >&2; exit 2 ;;
    *) arms+=("$1"); shift ;;
  esac
done
[ ${#arms[@]} -gt 0 ] || arms=(tag-pre tag-scratch tag-graph tag-shape conll-pre conll-scratch conll-graph conll-shape)
data=../shared/data
[ -d "$data/persona/personaext" ] || { echo "model-ablations.sh: $data is absent: the data lives there" >&2; exit 3; }
[ -x build/cli/persona ] || { cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null; cmake --build build -j"$(nproc)"; }
persona=${PERSONA_BIN:-$PWD/build/cli/persona}
[ -n "$init" ] || init="$runs/mlm-small/best"
[ -n "$kg" ] || kg="$runs/kg-subset"
mkdir -p "$runs"

need_kg() {
  [ -f "$kg/data.mdb" ] && return
  echo "== importing the graph subset into $kg"
  $persona kg import --db "$kg" "$data/kg/subset/wikidata-subset.json.gz" "$data"/kg/subset/dbpedia-subset/*.nt.gz
}

for arm in "${arms[@]}"; do
  task=${arm%%-*}
  variant=${arm#*-}
  case $task in
    tag) recipe=models/tagger-small.json; what=tag ;;
    conll) recipe=models/conll-small.json; what=ner ;;
    *) echo "model-ablations.sh: unknown arm $arm" >&2; exit 2 ;;
  esac
  init_arg=(--init "$init")
  extra=()
  evx=()
  IFS=+ read -r -a parts <<< "$variant"
  for part in "${parts[@]}"; do
    case $part in
      pre) ;;
      scratch) init_arg=(--init none) ;;
      sgns)
        if [ ! -f "$runs/sgns/best/model.safetensors" ]; then
          echo "== skip-gram word vectors into $runs/sgns"
          $persona train embed --recipe models/mlm-small.json --out "$runs/sgns" --threads "$threads"
        fi
        init_arg=(--init "$runs/sgns/best") ;;
      graph) need_kg; extra+=(--graph "$kg"); evx=(--graph "$kg") ;;
      shape) extra+=(--shape) ;;
      *) echo "model-ablations.sh: unknown arm $arm" >&2; exit 2 ;;
    esac
  done
  extra=("${init_arg[@]}" "${extra[@]}")
  dir="$runs/ablation-$arm"
  if [ ! -f "$dir/model.pem" ]; then
    echo "== $arm: training ($(date -u +%H:%M))"
    rm -rf "$dir"
    $persona train $what --recipe $recipe --out "$dir" --threads "$threads" $steps "${extra[@]}" > "$dir.log" 2>&1 ||
      { echo "model-ablations.sh: $arm failed, see $dir.log" >&2; exit 1; }
  fi
  for p in fp32 bf16; do
    if [ $task = tag ]; then
      $persona eval ner --model "$dir/model.pem" --threads "$threads" --precision $p "${evx[@]}" \
        --data "$data/ner/wnut17/emerging.test.annotated" --type-map corporation=organization,group=organization \
        --json > "$dir/eval-wnut17-test-$p.json"
      $persona eval rel --model "$dir/model.pem" --threads "$threads" --precision $p \
        --data "$data/persona/personaext/test.jsonl" --json > "$dir/eval-personaext-test-$p.json"
    else
      $persona eval ner --model "$dir/model.pem" --threads "$threads" --precision $p "${evx[@]}" \
        --data "$data/ner/conll2003/test.txt" --json > "$dir/eval-conll2003-test-$p.json"
    fi
  done
  echo "== $arm: done ($(date -u +%H:%M))"
done

# the table of every arm measured so far
/usr/bin/env python3 - "$runs" <<'PY' | tee "$runs/ablations.md"
import glob, json, os, sys
runs = sys.argv[1]
def f1(d, name, key):
    p = os.path.join(d, name)
    try:
        return json.load(open(p)).get(key)
    except (OSError, ValueError):  # absent, or being written by another run of this script
        return None
print("| arm | best step | WNUT-17 test F1 | PersonaExt test triplet F1 | PersonaExt relation accuracy | CoNLL-2003 test F1 | bf16 change (points) |")
print("|---|---|---:|---:|---:|---:|---:|")
for d in sorted(p for p in glob.glob(os.path.join(runs, "ablation-*")) if os.path.isdir(p)):
    arm = os.path.basename(d)[len("ablation-"):]
    best = "?"
    try:
        for line in open(os.path.join(d, "log.jsonl")):
            j = json.loads(line)
            if j.get("eval", {}).get("best"): best = j["step"]
    except OSError:
        pass
    cells, deltas = [], []
    for name, key in (("eval-wnut17-test-%s.json", "f1"), ("eval-personaext-test-%s.json", "triplet_micro_f1"),
                      ("eval-personaext-test-%s.json", "relation_accuracy"), ("eval-conll2003-test-%s.json", "f1")):
        a, b = f1(d, name % "fp32", key), f1(d, name % "bf16", key)
        cells.append("%.1f" % (100 * a) if a is not None else "")
        if a is not None and b is not None: deltas.append("%+.2f" % (100 * (b - a)))
    print("| %s | %s | %s | %s |" % (arm, best, " | ".join(cells), ", ".join(deltas)))
PY
