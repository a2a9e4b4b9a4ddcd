#!/usr/bin/env bash
# persona link on texts without mention spans: the mentions and their types
# come from a model's NER head. Trains the same tiny model as
# test_train_cli.sh (a few seconds), imports the linker's fixture graph and
# links plain text through NER.
set -u
persona=$1
fix=$2
models=$3
. "$(dirname "$0")/cli_tiny_model.sh"
cli_test_init pe_link_ner

tiny_recipes
expect_rc 0 "train mlm" "$persona" train mlm --recipe "$tmp/mlm.json" --out "$tmp/mlm" --threads 1
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
