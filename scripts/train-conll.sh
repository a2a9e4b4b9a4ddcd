#!/usr/bin/env bash
# Trains and measures the CoNLL-2003 model of docs/MODEL_CARD.md (measurement
# only: CoNLL-2003 is research-licensed, the model is never shipped):
#   1. MLM pretraining with case types (models/mlm-case-small.json, 2,000
#      updates; resumed when RUNS/mlm-case exists) from START, version 0.8
#      of the shipped model (default: RUNS/tag-08/model.pem, which
#      scripts/train-model.sh makes; or 0.8's file from git: git show
#      c15477a:models/persona-small.pem > p08.pem), kept as
#      RUNS/mlm-case-2000 (shared with scripts/train-model.sh: the start
#      of version 0.9 too);
#   2. the CoNLL-2003 NER head from it (models/conll-small.json, --shape),
#      with seeds 1 and 2 (RUNS/conll-s1, RUNS/conll-s2, each exported as
#      model.pem), and their model soup (`persona model average` of the two
#      best/ folders: RUNS/conll-soup.pem, the reported model);
#   3. CoNLL-2003 test F1 of the three, fp32 and bf16.
# Reads ../shared/data; about 45 minutes on two idle cores: run it under
# nice in the background.
#   usage: scripts/train-conll.sh [--runs DIR] [--start MODEL] [--threads N]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/train-lib.sh
runs=${PERSONA_RUNS:-../runs}
start=""
threads=$(nproc)
while [ $# -gt 0 ]; do
  case $1 in
    --start) start=$2; shift 2 ;;
    *) common_option "$@"; shift "$shift_by" ;;
  esac
done
data=../shared/data
[ -f "$data/ner/conll2003/test.txt" ] || { echo "train-conll.sh: $data/ner/conll2003 is absent: the data lives there" >&2; exit 3; }
need_persona
mkdir -p "$runs"
[ -n "$start" ] || start="$runs/tag-08/model.pem"
[ -d "$runs/mlm-case-2000" ] || [ -f "$start" ] || [ -f "$runs/mlm-case/latest" ] ||
  { echo "train-conll.sh: no start $start (run scripts/train-model.sh, or give --start with 0.8's file)" >&2; exit 5; }
mlm_checkpoint models/mlm-case-small.json "$runs/mlm-case" "$start" 2000
# two seeds of the NER head, then their soup (the mean of the two; the
# reported model)
for seed in 1 2; do
  run="$runs/conll-s$seed"
  rm -rf "$run"
  $persona train ner --recipe models/conll-small.json --init "$runs/mlm-case-2000" --shape --seed $seed --out "$run" \
    --threads "$threads"
done
rm -rf "$runs/conll-soup"
$persona model average "$runs/conll-soup" "$runs/conll-s1/best" "$runs/conll-s2/best"
$persona model convert "$runs/conll-soup" "$runs/conll-soup.pem" --labels "$runs/conll-soup/labels.json"
for m in conll-s1/model.pem conll-s2/model.pem conll-soup.pem; do
  for p in fp32 bf16; do
    out="$runs/${m%%/*}"; out="${out%.pem}-eval-test-$p.json"
    $persona eval ner --model "$runs/$m" --precision $p --threads "$threads" \
      --data "$data/ner/conll2003/test.txt" --json > "$out"
    echo "== $m $p: $(grep -E '"f1"' "$out" | head -1)"
  done
done
