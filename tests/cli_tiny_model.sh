# Sourced by CLI tests that need a trained model: helpers and the recipes of
# a tiny model (a 1-layer encoder pretrained for 20 MLM steps on a made-up
# corpus, then NER and relation heads on tests/fixtures/{ner,rel}), which
# learns its fixtures in a few seconds.
#   cli_test_init NAME   $tmp (removed at exit), $fail, die, expect_rc
#   tiny_recipes         writes $tmp/corpus.txt.gz, $tmp/mlm.json, $tmp/tag.json
#                        (needs $fix and $models)
cli_test_init() {
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  fail=0
  export PERSONA_NO_PROGRESS=1
}
die() { echo "FAIL: $*"; fail=1; }
expect_rc() { # expected-code description command...
  local want=$1 what=$2; shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
  [ $rc = "$want" ] || { die "$what: exit $rc, wanted $want"; cat "$tmp/err"; }
}
tiny_recipes() {
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
  cat > "$tmp/tag.json" <<JSON
{"init": "mlm/best", "data_dir": "$fix", "max_len": 64,
 "ner": {"types": ["person", "location", "organization", "work"], "train": [{"path": "ner/tiny.conll", "type_map": "PER=person,LOC=location,ORG=organization,MISC=work"}],
         "dev": [{"path": "ner/tiny.conll", "type_map": "PER=person,LOC=location,ORG=organization,MISC=work"}]},
 "rel": {"train": "rel/tiny.jsonl", "dev": "rel/tiny.jsonl"},
 "train": {"steps": 120, "batch_tokens": 512, "lr": 1e-2, "warmup": 10, "dropout": 0, "attention_dropout": 0, "weight_decay": 0, "eval_every": 40, "checkpoint_every": 0, "log_every": 40},
 "export": {"pem": "model.pem", "f16": true, "model_id": "tiny", "model_version": "1"}}
JSON
}
