#!/usr/bin/env bash
# persona link on texts without mention spans: the mentions and their types
# come from a model's NER head. Trains the same tiny model as
# test_train_cli.sh (a few seconds), imports the linker's fixture graph and
# links plain text through NER.
set -u
persona=$1
fix=$2
models=$3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pe_link_ner.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export PERSONA_NO_PROGRESS=1
fail=0
die() { echo "FAIL: $*"; fail=1; }
expect_rc() { # expected-code description command...
  local want=$1 what=$2; shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
  [ $rc = "$want" ] || { die "$what: exit $rc, wanted $want"; cat "$tmp/err"; }
}

for i in $(seq 1 40); do
  echo "i live in paris and i have a dog named rex number $i"
  echo "my favourite food is pizza and i work as a nurse"
  echo ""
done | gzip > "$tmp/corpus.txt.gz"
cat > "$tmp/mlm.json" <<JSON
{"corpus": ["corpus.txt.gz"], "data_dir": ".", "vocab": "$models/vocab.txt", "seq_len": 32, "held_out_every": 10,
 "model": {"layers": 1, "hidden": 32, "heads": 2, "intermediate": 64, "max_position": 64},
 "train": {"steps": 20, "batch_tokens": 256, "lr": 1e-3, "warmup": 2, "checkpoint_every": 10, "eval_every": 10, "log_every": 5}}
JSON
expect_rc 0 "train mlm" "$persona" train mlm --recipe "$tmp/mlm.json" --out "$tmp/mlm" --threads 1
cat > "$tmp/tag.json" <<JSON
{"init": "mlm/best", "data_dir": "$fix", "max_len": 64,
 "ner": {"types": ["person", "location", "organization", "work"], "train": [{"path": "ner/tiny.conll", "type_map": "PER=person,LOC=location,ORG=organization,MISC=work"}],
         "dev": [{"path": "ner/tiny.conll", "type_map": "PER=person,LOC=location,ORG=organization,MISC=work"}]},
 "rel": {"train": "rel/tiny.jsonl", "dev": "rel/tiny.jsonl"},
 "train": {"steps": 120, "batch_tokens": 512, "lr": 1e-2, "warmup": 10, "dropout": 0, "attention_dropout": 0, "weight_decay": 0, "eval_every": 40, "checkpoint_every": 0, "log_every": 40},
 "export": {"pem": "model.pem", "f16": true, "model_id": "tiny", "model_version": "1"}}
JSON
expect_rc 0 "train tag" "$persona" train tag --recipe "$tmp/tag.json" --out "$tmp/tag" --threads 1
model="$tmp/tag/model.pem"
[ -f "$model" ] || { echo "FAIL: no model.pem exported"; exit 1; }

db="$tmp/kg"
expect_rc 0 "kg import" "$persona" kg import "$fix/link/graph.json" --db "$db"
expect_rc 0 "link index" "$persona" link index --db "$db"
# a plain line: mentions from the NER head ("Paris" a location -> Q90)
echo "I met John Smith in Paris." > "$tmp/in.txt"
expect_rc 0 "link through NER" "$persona" link --db "$db" --model "$model" "$tmp/in.txt"
grep -q '"surface":"Paris","type":"location"' "$tmp/out" || { die "link: Paris not found as a location by NER"; cat "$tmp/out"; }
grep -q '"surface":"Paris","type":"location","ner_score":[0-9.e-]*,"nil":false,"entity":"Q90"' "$tmp/out" ||
  { die "link: Paris not linked to Q90"; cat "$tmp/out"; }
grep -q '"span":\[20,25\]' "$tmp/out" || die "link: Paris's character span"
# given spans and NER lines mix; the model is loaded once
printf '%s\n' '{"id": 1, "text": "Paris", "mentions": [{"span": [0, 5]}]}' '{"id": 2, "text": "I met John Smith in Paris."}' > "$tmp/in.jsonl"
expect_rc 0 "link mixed" "$persona" link --db "$db" --model "$model" "$tmp/in.jsonl"
[ "$(grep -c '"entity":"Q90"' "$tmp/out")" = 2 ] || { die "link mixed: Paris twice"; cat "$tmp/out"; }
# a model without an NER head is a clear error for lines that need one
expect_rc 4 "link with an MLM-only model" "$persona" link --db "$db" --model "$tmp/mlm/best" "$tmp/in.txt"
[ $fail = 0 ] && echo "link through NER ok"
exit $fail
