#!/usr/bin/env bash
# persona enrich / audit / forget / demo end to end, with a tiny relation
# model trained here on tests/fixtures/fusion/persona_rel.jsonl (it learns
# those sentences; the messages below are made of them) and the demo graph:
# personas, functional replacement, derived attributes with dump dates,
# Art. 9 withholding, idempotence, incremental runs, the stdin filter run
# the way Spark / Hadoop Streaming run it (partitions by user, outputs
# merged), bad lines, audit formats, --verify against a tampered store,
# forget leaving no byte of the user.
set -u
persona=$1
fix=$2
models=$3
src=$4
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pe_enrich.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail=0
die() { echo "FAIL: $*"; fail=1; }
expect_rc() { # expected-code description command...
  local want=$1 what=$2; shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
  [ $rc = "$want" ] || { die "$what: exit $rc, wanted $want"; cat "$tmp/err"; }
}
has() { grep -qF -- "$2" "$1" || { die "$3: no '$2' in $1"; head -c 3000 "$1"; echo; }; }
hasnt() { ! grep -qF -- "$2" "$1" || die "$3: '$2' found in $1"; }
line_of() { grep "\"user_id\":\"$2\"" "$1"; } # the persona line of a user

# ---- a tiny model (NER and relation heads) that knows the fixture's sentences
cat > "$tmp/rel.json" <<JSON
{"vocab": "$models/vocab.txt", "data_dir": "$fix", "max_len": 32,
 "model": {"layers": 1, "hidden": 32, "heads": 2, "intermediate": 64, "max_position": 64},
 "ner": {"types": ["person", "location", "organization", "work"],
         "train": [{"path": "ner/tiny.conll", "type_map": "PER=person,LOC=location,ORG=organization,MISC=work"}],
         "dev": [{"path": "ner/tiny.conll", "type_map": "PER=person,LOC=location,ORG=organization,MISC=work"}]},
 "rel": {"train": "fusion/persona_rel.jsonl", "dev": "fusion/persona_rel.jsonl"},
 "train": {"steps": 200, "batch_tokens": 512, "lr": 1e-2, "warmup": 10, "dropout": 0, "attention_dropout": 0,
           "weight_decay": 0, "eval_every": 50, "checkpoint_every": 0, "log_every": 50},
 "export": {"pem": "model.pem", "f16": true, "model_id": "tiny-fusion", "model_version": "7"}}
JSON
expect_rc 0 "train tag" "$persona" train tag --recipe "$tmp/rel.json" --out "$tmp/run" --threads 1
model="$tmp/run/model.pem"
[ -f "$model" ] || { echo "FAIL: no model"; exit 1; }
export PERSONA_MODEL="$model"

# ---- the demo graph, under a dated file name (the import records the dump date)
cp "$src/data/demo/demo-wikidata.json" "$tmp/wikidata-20240501-demo.json"
expect_rc 0 "kg import" "$persona" kg import "$tmp/wikidata-20240501-demo.json" --db "$tmp/kg"
kg="$tmp/kg"

msgs="$src/data/demo/messages.jsonl"
ps="$tmp/ps"
expect_rc 0 "enrich" "$persona" enrich --in "$msgs" --out "$tmp/p1.jsonl" --db "$kg" --db-personas "$ps"
p1="$tmp/p1.jsonl"
[ "$(wc -l < "$p1")" = 3 ] || die "enrich: wanted 3 persona lines"
line_of "$p1" alice > "$tmp/alice"
has "$tmp/alice" '{"attribute":"residence","relation":"live_in_citystatecountry","value":"berlin","entity":"Q64"' "alice's residence"
has "$tmp/alice" '"evidence":["a3"]' "alice's residence evidence"
has "$tmp/alice" '{"attribute":"country","relation":null,"value":"germany","entity":"Q183"' "derived country"
has "$tmp/alice" '{"change":"add","attribute":"residence","value":"berlin","replaced":"paris","state":"current"' "history of the replacement"
has "$tmp/alice" '{"attribute":"age","relation":null,"value":"34"' "age from the pattern"
has "$tmp/alice" '{"attribute":"pets","relation":"have_pet","value":"dogs","entity":"Q144"' "alice's dogs"
line_of "$p1" bob > "$tmp/bob"
has "$tmp/bob" '"attribute":"former_employer","relation":"pre_employed_by_company","value":"apple","entity":"Q312"' "former employer (the company, not the fruit)"
has "$tmp/bob" '"attribute":"sport","relation":null,"value":"association football","entity":"Q2736"' "sport from the team"
line_of "$p1" carol > "$tmp/carol"
has "$tmp/carol" '"attribute":"genre","relation":null,"value":"rock music"' "genre from the band"
hasnt "$tmp/carol" 'diabetes' "Art. 9 health value withheld"
has "$tmp/carol" '{"change":"retract","attribute":"foods","value":"sushi","state":"retracted"' "dislike retracts the food"
has "$tmp/err" "1 withheld" "withheld count"
hasnt "$ps/data.mdb" 'diabetes' "withheld value stored"

# ---- idempotent: the same messages again change nothing
cp "$ps/data.mdb" "$tmp/before.mdb"
expect_rc 0 "enrich again" "$persona" enrich --in "$msgs" --out "$tmp/p2.jsonl" --db "$kg" --db-personas "$ps"
cmp -s "$p1" "$tmp/p2.jsonl" || die "enriching the same messages twice changed the personas"
has "$tmp/err" "0 added, 0 updated, 0 replaced" "second run counts"
expect_rc 0 "audit --verify" "$persona" audit --verify --db-personas "$ps"
has "$tmp/out" "audit log sound: 20 records" "no audit record for a replay"

# ---- incremental: a new message updates one persona only
printf '%s\n' '{"user_id":"alice","message_id":"a5","timestamp":1712000000,"text":"i eat sushi every day ."}' > "$tmp/new.jsonl"
expect_rc 0 "enrich incremental" "$persona" enrich --in "$tmp/new.jsonl" --out "$tmp/p3.jsonl" --db "$kg" --db-personas "$ps"
[ "$(wc -l < "$tmp/p3.jsonl")" = 1 ] || die "incremental: only alice comes out"
has "$tmp/p3.jsonl" '"value":"sushi","entity":"Q46383"' "incremental: the new attribute"
has "$tmp/p3.jsonl" '"value":"berlin"' "incremental: the old attributes stay"
has "$tmp/err" "1 messages" "incremental: one message processed"

# ---- the filter, as Spark RDD.pipe / Hadoop Streaming runs it: partitions by
# user (hash of user_id), one process each with its own temporary store,
# outputs concatenated; the same personas as one process
"$persona" enrich --db "$kg" < "$msgs" > "$tmp/one.jsonl" 2>"$tmp/err" || die "filter, one process"
cmp -s "$tmp/one.jsonl" "$p1" || die "the filter's output differs from --in's"
awk -v n=3 -v dir="$tmp" '
  BEGIN { for (i = 32; i < 127; i++) ord[sprintf("%c", i)] = i }
  { match($0, /"user_id": *"[^"]*"/); u = substr($0, RSTART, RLENGTH); h = 0
    for (i = 1; i <= length(u); i++) h = (h * 31 + ord[substr(u, i, 1)]) % 1000003
    print > (dir "/part-" (h % n)) }' "$msgs"
parts=$(ls "$tmp"/part-* | wc -l)
[ "$parts" -ge 2 ] || die "the partitioning put every user in one partition"
pids=()
for p in "$tmp"/part-*; do
  "$persona" enrich --db "$kg" < "$p" > "$p.out" 2>/dev/null & pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || die "a partition's enrich failed"; done
cat "$tmp"/part-*.out | LC_ALL=C sort > "$tmp/merged.jsonl"
LC_ALL=C sort "$tmp/one.jsonl" > "$tmp/one.sorted"
cmp -s "$tmp/merged.jsonl" "$tmp/one.sorted" || { die "partitioned run differs from one process"; diff "$tmp/merged.jsonl" "$tmp/one.sorted" | head; }

# ---- readers while a writer enriches: audit --verify and audit run meanwhile
for i in $(seq 1 150); do
  sed "s/\"message_id\": \"\([a-z0-9]*\)\"/\"message_id\": \"\1-$i\"/" "$msgs"
done > "$tmp/many.jsonl"
"$persona" enrich --in "$tmp/many.jsonl" --db "$kg" --db-personas "$tmp/psc" > "$tmp/many.out" 2>"$tmp/many.err" &
wpid=$!
readers=0
while kill -0 $wpid 2>/dev/null; do
  if [ -f "$tmp/psc/data.mdb" ]; then
    "$persona" audit --verify --db-personas "$tmp/psc" >/dev/null 2>"$tmp/rerr" || { grep -q "no persona store\|not a persona store" "$tmp/rerr" || die "verify while a writer enriches: $(cat "$tmp/rerr")"; }
    readers=$((readers + 1))
  fi
done
wait $wpid || die "the writer failed while readers ran"
expect_rc 0 "verify after the concurrent run" "$persona" audit --verify --db-personas "$tmp/psc"
has "$tmp/many.err" "1800 messages" "all messages of the concurrent run"
echo "concurrent readers: $readers verify runs during the write"

# ---- bad lines: named, skipped and counted; fatal with --strict
{
  echo '{"user_id":"dan","message_id":"d1","timestamp":1700000000,"text":"i live in paris ."}'
  echo '{"user_id":"dan","message_id":"d2","timestamp":1700000000,'          # malformed
  echo '{"user_id":"dan","timestamp":1700000000,"text":"i work at google ."}'  # no message id
  echo '{"user_id":"dan","message_id":"d3","timestamp":"next week","text":"x"}'
  printf '{"user_id":"dan","message_id":"d4","timestamp":1700000000,"text":"caf\xe9"}\n'
  printf '{"user_id":"dan","message_id":"d5","timestamp":1700000000,"text":"%s"}\n' "$(head -c 1048576 /dev/zero | tr '\0' 'a')"
  echo '{"user_id":"dan","message_id":"d1","timestamp":1700000000,"text":"i live in paris ."}'  # duplicate
  echo '{"user_id":"dan","message_id":"d6","timestamp":"2023-11-14T22:13:20+01:00","text":"i work at google ."}'
} > "$tmp/bad.jsonl"
expect_rc 4 "enrich with bad lines" "$persona" enrich --in "$tmp/bad.jsonl" --db "$kg"
for l in 2 3 4 5 6; do has "$tmp/err" "bad.jsonl:$l:" "bad line $l named"; done
has "$tmp/err" 'missing "message_id"' "missing field named"
has "$tmp/err" 'invalid UTF-8' "invalid UTF-8 named"
has "$tmp/err" "5 lines skipped" "skipped count"
has "$tmp/out" '"value":"paris","entity":"Q90","confidence"' "good lines around bad ones"
has "$tmp/out" '"evidence":["d1"]' "duplicate message counted once"
has "$tmp/out" '"value":"google"' "ISO 8601 with an offset"
# random bytes and truncated JSON: every line refused, nothing crashes
{ head -c 20000 /dev/urandom | tr '\n' 'x' | fold -w 97; echo
  l1=$(head -1 "$msgs"); for i in $(seq 1 3 $((${#l1} - 1))); do printf '%s\n' "${l1:0:$i}"; done; } > "$tmp/noise.jsonl"
expect_rc 4 "enrich on noise" "$persona" enrich --in "$tmp/noise.jsonl" --db "$kg"
[ ! -s "$tmp/out" ] || die "noise gave personas"
expect_rc 1 "enrich --strict" "$persona" enrich --in "$tmp/bad.jsonl" --db "$kg" --strict
has "$tmp/err" "bad.jsonl:2:" "--strict names the line"
[ ! -s "$tmp/out" ] || die "--strict wrote personas"
expect_rc 5 "enrich, missing input" "$persona" enrich --in "$tmp/none.jsonl" --db "$kg"
expect_rc 5 "enrich, missing model" "$persona" enrich --in "$msgs" --model "$tmp/none.pem"
expect_rc 5 "enrich, missing graph" "$persona" enrich --in "$msgs" --db "$tmp/nokg"
expect_rc 2 "enrich, bad option" "$persona" enrich --frobnicate
expect_rc 0 "enrich --help" "$persona" enrich --help
has "$tmp/out" "exit codes" "enrich --help"

# ---- linkers: the exact lookup gives the same personas here; with the link
# index built (DB/link, found by default) too; a missing index is named
expect_rc 0 "enrich --linker exact" "$persona" enrich --in "$msgs" --db "$kg" --linker exact
cmp -s "$tmp/out" "$p1" || die "--linker exact: other personas on the demo messages"
expect_rc 0 "link index" "$persona" link index --db "$kg"
expect_rc 0 "enrich with the link index" "$persona" enrich --in "$msgs" --db "$kg"
cmp -s "$tmp/out" "$p1" || die "with the link index: other personas on the demo messages"
expect_rc 5 "enrich, missing link index" "$persona" enrich --in "$msgs" --db "$kg" --link-index "$tmp/noindex"
expect_rc 5 "enrich, missing ranker" "$persona" enrich --in "$msgs" --db "$kg" --ranker "$tmp/none.json"
has "$tmp/err" "none.json does not exist" "a missing ranker is named"
expect_rc 0 "enrich --ranker none (by prior)" "$persona" enrich --in "$msgs" --db "$kg" --ranker none
cmp -s "$tmp/out" "$p1" || die "--ranker none: other personas on the demo messages"
expect_rc 2 "enrich, bad --linker" "$persona" enrich --in "$msgs" --db "$kg" --linker fuzzy

# ---- policy: Art. 9 classes allowed explicitly
echo '{"allow": ["health"]}' > "$tmp/policy.json"
expect_rc 0 "enrich with a policy" "$persona" enrich --in "$msgs" --db "$kg" --policy "$tmp/policy.json"
has "$tmp/out" '"value":"diabetes","entity":"Q12206","confidence"' "allowed health value"
has "$tmp/out" '"sensitivity":"health"' "sensitivity in the output"
echo '{"allow": ["helth"]}' > "$tmp/policy.json"
expect_rc 1 "enrich with a bad policy" "$persona" enrich --in "$msgs" --db "$kg" --policy "$tmp/policy.json"
expect_rc 5 "enrich, missing policy" "$persona" enrich --in "$msgs" --db "$kg" --policy "$tmp/nopolicy.json"
expect_rc 2 "enrich, bad --threads" "$persona" enrich --in "$msgs" --threads 0

# ---- an existing profile comes back enriched: linked, derived, withheld
printf '%s\n' '{"user_id":"pat","attributes":[{"attribute":"residence","value":"Lyon"},{"attribute":"favorite_music_artist","value":"Queen","confidence":0.7},{"attribute":"health","value":"asthma"},{"attribute":"shoe_size","value":"42"}]}' > "$tmp/profile.jsonl"
expect_rc 0 "enrich a profile" "$persona" enrich --in "$tmp/profile.jsonl" --db "$kg"
has "$tmp/out" '{"attribute":"residence","relation":"live_in_citystatecountry","value":"lyon","entity":"Q456","confidence":1' "profile residence linked"
has "$tmp/out" '{"attribute":"country","relation":null,"value":"france","entity":"Q142"' "profile: derived country"
has "$tmp/out" '"value":"queen","entity":"Q15862","confidence":0.7' "profile confidence kept"
has "$tmp/out" '{"attribute":"shoe_size","relation":null,"value":"42","entity":null' "profile: unknown attribute kept"
hasnt "$tmp/out" 'asthma' "profile: Art. 9 value withheld"
printf '%s\n' '{"user_id":"pat","attributes":[{"attribute":"residence"}]}' > "$tmp/profile.jsonl"
expect_rc 4 "enrich a bad profile" "$persona" enrich --in "$tmp/profile.jsonl" --db "$kg"
has "$tmp/err" 'profile.jsonl:1: each profile attribute needs' "bad profile named"

# ---- a persona store of a newer layout version: a clear error, not a byte changed
cp -r "$ps" "$tmp/ps3"
LC_ALL=C perl -0777 -pi -e 's/layout_version\x00\x00\x00\x01/layout_version\x00\x00\x00\x02/g' "$tmp/ps3/data.mdb"
cp "$tmp/ps3/data.mdb" "$tmp/newer.mdb"
expect_rc 1 "enrich into a newer store" "$persona" enrich --in "$msgs" --db "$kg" --db-personas "$tmp/ps3"
has "$tmp/err" "layout version 2 is newer" "newer layout named"
cmp -s "$tmp/newer.mdb" "$tmp/ps3/data.mdb" || die "a newer store was changed"
expect_rc 1 "audit a newer store" "$persona" audit alice --db-personas "$tmp/ps3"

# ---- audit: needs no model
export PERSONA_MODEL="$tmp/none.pem"
expect_rc 0 "audit text" "$persona" audit alice country --db-personas "$ps"
has "$tmp/out" 'graph fact: Q64 P17 Q183  (source wikidata-20240501-demo.json, dump date 2024-05-01)' "facts with source and dump date"
has "$tmp/out" 'replaced "france"' "what it replaced"
expect_rc 0 "audit text residence" "$persona" audit alice residence --db-personas "$ps"
has "$tmp/out" 'model tiny-fusion version 7, rule map_relation' "model id and version"
has "$tmp/out" 'characters [10, 16) in "i live in berlin now ."' "span and snippet"
has "$tmp/out" 'relation score 0.9' "relation score"
has "$tmp/out" ', ner score 0.' "NER score of the object's mention"
has "$tmp/out" 'linked to Q64, link score' "link and score"
expect_rc 0 "audit age" "$persona" audit alice age --db-personas "$ps"
has "$tmp/out" 'method pattern, rule pattern_age' "pattern provenance"
has "$tmp/out" '[email]' "e-mail masked in the snippet"
hasnt "$ps/data.mdb" 'alice.martin@example.com' "e-mail stored unmasked"
expect_rc 0 "audit json" "$persona" audit alice --format json --db-personas "$ps"
has "$tmp/out" '"dump_date":	"2024-05-01"' "json facts"
if command -v jq >/dev/null; then jq -e '.attributes | length > 3' "$tmp/out" >/dev/null || die "audit json does not parse"; fi
expect_rc 0 "audit prov" "$persona" audit alice residence --format prov --db-personas "$ps"
has "$tmp/out" '"@context"' "JSON-LD"
has "$tmp/out" 'wasDerivedFrom' "prov:wasDerivedFrom"
expect_rc 0 "audit turtle" "$persona" audit alice residence --format turtle --db-personas "$ps"
has "$tmp/out" 'prov:qualifiedDerivation' "Turtle"
if command -v rapper >/dev/null; then
  rapper -q -i turtle -c "$tmp/out" >/dev/null 2>&1 || die "rapper does not accept the Turtle"
fi
expect_rc 3 "audit unknown user" "$persona" audit nobody --db-personas "$ps"
expect_rc 3 "audit unknown attribute" "$persona" audit alice shoe_size --db-personas "$ps"
expect_rc 5 "audit without a store" "$persona" audit alice --db-personas "$tmp/nops"
expect_rc 2 "audit bad format" "$persona" audit alice --format xml --db-personas "$ps"

# ---- forget: no byte of the user's texts remains, the tombstone does
grep -qF 'i live in berlin now' "$ps/data.mdb" || die "alice's snippet not in the store before forget"
expect_rc 0 "forget" "$persona" forget alice --db-personas "$ps"
has "$tmp/out" "store rebuilt" "forget rebuilds"
for s in 'i live in berlin now' 'alice' 'i have two dogs' 'i live in paris'; do
  hasnt "$ps/data.mdb" "$s" "forgotten user's bytes"
done
expect_rc 3 "audit forgotten user" "$persona" audit alice --db-personas "$ps"
expect_rc 0 "audit others after forget" "$persona" audit bob --db-personas "$ps"
expect_rc 0 "verify after forget" "$persona" audit --verify --db-personas "$ps"
expect_rc 3 "forget twice" "$persona" forget alice --db-personas "$ps"

# ---- tampering with an audit record is detected
cp -r "$ps" "$tmp/ps2"
LC_ALL=C perl -0777 -pi -e 's/special category not allowed by policy/special category NOT allowed by policy/' "$tmp/ps2/data.mdb"
cmp -s "$ps/data.mdb" "$tmp/ps2/data.mdb" && die "tampering changed nothing"
expect_rc 1 "verify a tampered log" "$persona" audit --verify --db-personas "$tmp/ps2"
has "$tmp/out" "DAMAGED at record" "tampering named"

# ---- persona demo with a model: personas and a provenance chain
expect_rc 0 "demo with a model" "$persona" demo --model "$model"
has "$tmp/out" "persona of alice:" "demo personas"
has "$tmp/out" "-> Q183 (Germany)" "demo derived country"
has "$tmp/out" "== provenance: persona audit alice country ==" "demo provenance"
has "$tmp/out" "link-ranker.json" "demo names the shipped ranker"
has "$tmp/out" "graph fact: Q64 P17 Q183" "demo graph fact"
has "$tmp/out" "verified" "demo audit log"

[ $fail = 0 ] && echo "enrich/audit/forget/demo ok"
exit $fail
