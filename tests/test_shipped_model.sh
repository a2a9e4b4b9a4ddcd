#!/usr/bin/env bash
# The shipped model (models/persona-small.pem) loads, has both heads with
# their label sets, and `persona extract` runs on it with its defaults:
# persona-relation triples and mentions come out with valid spans.
set -u
persona=$1
model=$2
[ -f "$model" ] || { echo "no shipped model at $model: skipped"; exit 77; }
fail=0
die() { echo "FAIL: $*"; fail=1; }
info=$("$persona" model info "$model" 2>&1) || die "model info: $info"
grep -q '"ner"' <<<"$info" || die "the shipped model has no ner labels"
grep -q '"rel"' <<<"$info" || die "the shipped model has no rel labels"
grep -q 'B-live_in_citystatecountry' <<<"$info" || die "the rel labels miss live_in_citystatecountry"
size=$(stat -c %s "$model")
[ "$size" -le $((30 * 1024 * 1024)) ] || die "the shipped model is over 30 MB ($size bytes)"
# the default model is the shipped one
out=$(PERSONA_MODEL="$model" "$persona" extract "i have a dog named max ." 2>&1) || die "extract: $out"
echo "$out"
grep -q '"relations":\[{' <<<"$out" || die "extract found no relation in a plain persona sentence"
grep -q '"model":{"id":"persona-small"' <<<"$out" || die "extract does not name the model"
# spans: every start < end, inside the text
command -v python3 >/dev/null && python3 - "$out" <<'PY' || { command -v python3 >/dev/null && fail=1; }
import json, sys
o = json.loads(sys.argv[1])
t = o["text"]
for m in o["mentions"]:
    assert 0 <= m["start"] < m["end"] <= len(t) and t[m["start"]:m["end"]] == m["text"], m
for r in o["relations"]:
    ob = r["object"]
    assert 0 <= ob["start"] < ob["end"] <= len(t) and t[ob["start"]:ob["end"]] == ob["text"], r
print("spans ok")
PY
[ $fail = 0 ] && echo "shipped model ok"
exit $fail
