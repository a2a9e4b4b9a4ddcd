#!/usr/bin/env bash
# Measures what in-domain (social-media) text is worth on WNUT-17: domain-
# adaptive MLM (Gururangan et al. 2020) with case types on tweets
# (tweeteval: Twitter terms, eval only) and Reddit comments (goemotions),
# then the shipped model's recipe (models/tagger-small.json) from it. The
# model it makes is for measurement only and must not ship: a model may not
# carry the tweets (../shared/data/README.md); the shipped model's encoder
# never saw them.
#   1. models/mlm-social-case.json, 1,500 updates, from RUNS/mlm-case-2000
#      (scripts/train-model.sh makes it), kept as RUNS/mlm-social-1500;
#   2. models/tagger-small.json from it (--until 3500, as version 0.9), in
#      RUNS/tag-social; its model.pem is the best development checkpoint;
#   3. WNUT-17 test entity F1 and PersonaExt test triplet F1 of it.
# Reads ../shared/data; about 40 minutes on two idle cores: run it under
# nice in the background.
#   usage: scripts/train-social.sh [--runs DIR] [--seed N] [--threads N]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/train-lib.sh
runs=${PERSONA_RUNS:-../runs}
seed=2
threads=$(nproc)
while [ $# -gt 0 ]; do
  case $1 in
    --seed) seed=$2; shift 2 ;;
    *) common_option "$@"; shift "$shift_by" ;;
  esac
done
data=../shared/data
[ -f "$data/corpus/tweeteval__tweets_tweeteval_dedup.txt.gz" ] ||
  { echo "train-social.sh: $data/corpus is absent: the data lives there" >&2; exit 3; }
[ -d "$runs/mlm-case-2000" ] || { echo "train-social.sh: no $runs/mlm-case-2000 (run scripts/train-model.sh)" >&2; exit 5; }
[ -d "$runs/kg" ] || { echo "train-social.sh: no graph store $runs/kg (run scripts/train-model.sh)" >&2; exit 5; }
need_persona
mlm_checkpoint models/mlm-social-case.json "$runs/mlm-social" "$runs/mlm-case-2000" 1500
run="$runs/tag-social"
[ -f "$run/model.pem" ] || $persona train tag --recipe models/tagger-small.json --init "$runs/mlm-social-1500" --shape \
  --swap-graph "$runs/kg" --seed "$seed" --until 3500 --out "$run" --threads "$threads"
$persona eval ner --model "$run/model.pem" --threads "$threads" --json \
  --data "$data/ner/wnut17/emerging.test.annotated" --type-map corporation=organization,group=organization > "$run/eval-wnut17-test.json"
$persona eval rel --model "$run/model.pem" --threads "$threads" --json \
  --data "$data/persona/personaext/test.jsonl" > "$run/eval-personaext-test.json"
echo "== WNUT-17 test: $(grep -E '"f1"' "$run/eval-wnut17-test.json" | head -1)"
echo "== PersonaExt test: $(grep -E 'triplet_micro_f1' "$run/eval-personaext-test.json" | head -1)"
