#!/usr/bin/env bash
# Trains the shipped model from the committed recipes, as docs/MODEL_CARD.md
# describes, and measures it:
#   1. MLM pretraining (models/mlm-small.json), resumed when RUNS/mlm exists;
#   2. the NER and relation heads together (models/tagger-small.json) from
#      the pretraining's best checkpoint;
#   3. evaluation on WNUT-17 test and PersonaExt test (fp32 and bf16);
#   4. with --install, copies the model to models/persona-small.pem.
# Reads ../shared/data; long: run it under nice in the background.
#   usage: scripts/train-model.sh [--runs DIR] [--mlm-steps N] [--skip-mlm] [--init DIR] [--install]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${PERSONA_RUNS:-../runs}
mlm_steps=""
skip_mlm=0
install=0
init=""
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --mlm-steps) mlm_steps="--steps $2"; shift 2 ;;
    --skip-mlm) skip_mlm=1; shift ;;
    --init) init=$2; shift 2 ;;
    --install) install=1; shift ;;
    -h|--help) sed -n 2,11p "$0"; exit 0 ;;
    *) echo "train-model.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
data=../shared/data
[ -d "$data/persona/personaext" ] || { echo "train-model.sh: $data is absent: the training data lives there" >&2; exit 3; }
[ -x build/cli/persona ] || { cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null; cmake --build build -j"$(nproc)"; }
persona=build/cli/persona
mkdir -p "$runs"
if [ $skip_mlm = 0 ]; then
  resume=""
  [ -f "$runs/mlm/latest" ] && resume=--resume
  $persona train mlm --recipe models/mlm-small.json --out "$runs/mlm" $resume $mlm_steps
fi
[ -n "$init" ] || init="$runs/mlm/best"
rm -rf "$runs/tag"
$persona train tag --recipe models/tagger-small.json --init "$init" --out "$runs/tag"
model="$runs/tag/model.pem"
for p in fp32 bf16; do
  echo "== $p"
  $persona eval ner --model "$model" --precision $p --data "$data/ner/wnut17/emerging.test.annotated" \
    --type-map corporation=organization,group=organization --json > "$runs/tag/eval-wnut17-test-$p.json"
  $persona eval rel --model "$model" --precision $p --data "$data/persona/personaext/test.jsonl" \
    --json > "$runs/tag/eval-personaext-test-$p.json"
  grep -E '"(f1|macro_f1|triplet_micro_f1|relation_f1|relation_accuracy)"' "$runs/tag/eval-"*"-$p.json"
done
if [ $install = 1 ]; then
  cp "$model" models/persona-small.pem
  echo "installed models/persona-small.pem ($(du -h models/persona-small.pem | cut -f1))"
fi
