#!/usr/bin/env bash
# Trains the shipped model from the committed recipes, as docs/MODEL_CARD.md
# describes, and measures it (the shipped model: steps 1-6 below).
# --deep-until N trains the deeper encoder instead (measured in session 13,
# not shipped yet): skip-gram vectors (models/mlm-deep.json, RUNS/sgns-deep,
# kept when it exists), its MLM (models/mlm-deep.json, 8 layers, hidden 256,
# case types from the start) stopped after update N (resumed when
# RUNS/mlm-deep exists; kept as RUNS/mlm-deep-N), then steps 2, 4 (stopped
# at step 3,500), 5 and 6 from it. The small encoder's path:
#   1. the encoder's start: skip-gram word vectors of the pretraining corpus
#      (`persona train embed`, models/mlm-small.json; kept when RUNS/sgns/best
#      exists), then MLM pretraining from them (models/mlm-small.json, its
#      12,000-step schedule) stopped after update N (--mlm-until; 12000, the
#      whole schedule, as the shipped model 0.7; 0.6 used 5000; resumed
#      when RUNS/mlm exists; its checkpoint of update
#      N is kept as RUNS/mlm-N); --no-mlm starts from the vectors alone (the
#      start of versions 0.2 to 0.5);
#   2. the graph store of ../shared/data/kg/subset (RUNS/kg, kept when it
#      exists): the graph objects of the relation copies (--swap-graph);
#   3. since 0.9 (--no-case-mlm: skip this, as 0.8): the heads from that
#      start with seed 1 (version 0.8, RUNS/tag-08/model.pem), whose encoder
#      has learnt the case types on the entity data, then 2,000 updates of
#      MLM with case types from it (models/mlm-case-small.json,
#      RUNS/mlm-case-2000), the start of step 4, which then stops at step
#      3,500 (--until) as 0.9's run did;
#   4. the NER and relation heads together (models/tagger-small.json: seed 2
#      since 0.9, pairs of utterances since 0.10, WNUT-17 dev in the NER
#      training data since 0.11 (best/ by PersonaExt dev), word shape feature, case
#      types since 0.8, the weights'
#      moving average) from that start; its export is RUNS/tag/model.pem
#      (version 0.11);
#   4b. only with --pseudo (measured in session 16, not shipped):
#      self-training text, the mentions that model finds in Reddit comments
#      and chat turns (scripts/pseudo-ner.py, RUNS/pseudo-ner.conll), then
#      the heads again from the same start with it as one more NER file
#      (models/tagger-pseudo.json); its export, RUNS/tag-pseudo/model.pem,
#      is then the model evaluated and installed;
#   4c. only with --round2 (measured in session 17): a second round from
#      the model of step 4: its encoder pretrained on for 1,000 MLM updates
#      with case types (models/mlm-case-small.json stopped at update 1,000,
#      RUNS/mlm-case-r2-1000), then step 4's recipe again from it; its
#      export, RUNS/tag-r2/model.pem, is then the model evaluated and
#      installed;
#   5. evaluation on WNUT-17 test and PersonaExt test (fp32 and bf16);
#   6. with --install, copies the model to models/persona-small.pem.
# Reads ../shared/data; long (the MLM part takes hours on two cores): run it
# under nice in the background; a killed run goes on where it stopped.
#   usage: scripts/train-model.sh [--runs DIR] [--mlm-until N | --no-mlm] [--no-case-mlm] [--pseudo] [--round2] [--deep-until N]
#                                 [--init DIR] [--threads N] [--install]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/train-lib.sh
runs=${PERSONA_RUNS:-../runs}
mlm=1
mlm_until=12000
install=0
init=""
case_mlm=1
pseudo=0
round2=0
deep=0
deep_until=12000
until_arg=()
threads=$(nproc)
while [ $# -gt 0 ]; do
  case $1 in
    --deep-until) deep=1; deep_until=$2; shift 2 ;;
    --no-mlm) mlm=0; shift ;;
    --mlm-until) mlm=1; mlm_until=$2; shift 2 ;;
    --init) init=$2; shift 2 ;;
    --no-case-mlm) case_mlm=0; shift ;;
    --pseudo) pseudo=1; shift ;;
    --round2) round2=1; shift ;;
    --install) install=1; shift ;;
    *) common_option "$@"; shift "$shift_by" ;;
  esac
done
data=../shared/data
[ -d "$data/persona/personaext" ] || { echo "train-model.sh: $data is absent: the training data lives there" >&2; exit 3; }
need_persona
mkdir -p "$runs"
if [ -z "$init" ] && [ $deep = 1 ]; then
  [ -d "$runs/sgns-deep/best" ] || $persona train embed --recipe models/mlm-deep.json --out "$runs/sgns-deep" --threads 1
  mlm_checkpoint models/mlm-deep.json "$runs/mlm-deep" "$runs/sgns-deep/best" "$deep_until" --until "$deep_until"
  init="$runs/mlm-deep-$deep_until"
  case_mlm=0
  until_arg=(--until 3500)
elif [ -z "$init" ]; then
  [ -d "$runs/sgns/best" ] || $persona train embed --recipe models/mlm-small.json --out "$runs/sgns" --threads 1
  init="$runs/sgns/best"
  if [ $mlm = 1 ]; then
    mlm_checkpoint models/mlm-small.json "$runs/mlm" "$init" "$mlm_until" --until "$mlm_until"
    init="$runs/mlm-$mlm_until"
  fi
fi
if [ ! -d "$runs/kg" ]; then
  rc=0
  $persona kg import "$data/kg/subset/wikidata-subset.json.gz" "$data"/kg/subset/dbpedia-subset/*.nt.gz --db "$runs/kg" || rc=$?
  [ $rc = 0 ] || [ $rc = 4 ] || { echo "train-model.sh: the graph import failed ($rc)" >&2; exit 1; }
fi
# the heads of RECIPE from INIT into OUT (started afresh), with the word
# shape feature and the graph objects of the relation copies
tag_run() {
  local recipe=$1 start=$2 out=$3
  shift 3
  rm -rf "$out"
  $persona train tag --recipe "$recipe" --init "$start" --shape --swap-graph "$runs/kg" --out "$out" \
    --threads "$threads" "$@"
}
if [ $case_mlm = 1 ]; then
  # version 0.8: the heads with seed 1 from that start (all 5,000 steps);
  # its encoder, which has learnt the case types on the entity data, is
  # the start of MLM with case types (models/mlm-case-small.json)
  if [ ! -f "$runs/tag-08/model.pem" ]; then
    tag_run models/tagger-small.json "$init" "$runs/tag-08" --seed 1
  fi
  mlm_checkpoint models/mlm-case-small.json "$runs/mlm-case" "$runs/tag-08/model.pem" 2000
  init="$runs/mlm-case-2000"
  until_arg=(--until 3500)
fi
tag_run models/tagger-small.json "$init" "$runs/tag" "${until_arg[@]}"
model="$runs/tag/model.pem"
if [ $pseudo = 1 ]; then
  # 4b: the model just trained labels shippable comment and chat text; the
  # heads are trained again from the same start with that text too
  python3 scripts/pseudo-ner.py lines "$runs/pseudo-lines.jsonl"
  $persona extract --model "$model" --threads "$threads" < "$runs/pseudo-lines.jsonl" > "$runs/pseudo-extract.jsonl"
  python3 scripts/pseudo-ner.py conll "$runs/pseudo-extract.jsonl" "$runs/pseudo-ner.conll"
  # the recipe names ../runs/pseudo-ner.conll; other run folders get a copy
  # of it with absolute paths
  recipe=models/tagger-pseudo.json
  if [ "$(cd "$runs" && pwd)" != "$(cd ../runs 2>/dev/null && pwd)" ]; then
    recipe="$runs/tagger-pseudo.json"
    sed -e "s|\"\.\./\.\./runs/pseudo-ner.conll\"|\"$(cd "$runs" && pwd)/pseudo-ner.conll\"|" \
      -e "s|\"data_dir\": \"\.\./\.\./shared/data\"|\"data_dir\": \"$(cd "$data" && pwd)\"|" models/tagger-pseudo.json > "$recipe"
  fi
  tag_run "$recipe" "$init" "$runs/tag-pseudo" "${until_arg[@]}"
  model="$runs/tag-pseudo/model.pem"
fi
if [ $round2 = 1 ]; then
  # 4c: the model just trained is the start of 1,000 more MLM updates with
  # case types, and its recipe runs again from there
  mlm_checkpoint models/mlm-case-small.json "$runs/mlm-case-r2" "$model" 1000 --until 1000
  tag_run models/tagger-small.json "$runs/mlm-case-r2-1000" "$runs/tag-r2" "${until_arg[@]}"
  model="$runs/tag-r2/model.pem"
fi
for p in fp32 bf16; do
  echo "== $p"
  $persona eval ner --model "$model" --precision $p --data "$data/ner/wnut17/emerging.test.annotated" \
    --type-map corporation=organization,group=organization --json > "$(dirname "$model")/eval-wnut17-test-$p.json"
  $persona eval rel --model "$model" --precision $p --data "$data/persona/personaext/test.jsonl" \
    --json > "$(dirname "$model")/eval-personaext-test-$p.json"
  grep -E '"(f1|macro_f1|triplet_micro_f1|relation_f1|relation_accuracy)"' "$(dirname "$model")/eval-"*"-$p.json"
done
if [ $install = 1 ]; then
  cp "$model" models/persona-small.pem
  echo "installed models/persona-small.pem ($(du -h models/persona-small.pem | cut -f1))"
fi
