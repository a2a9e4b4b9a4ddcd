#!/usr/bin/env bash
# persona train (mlm, then tag from the pretrained run), eval ner|rel and
# extract end to end on tiny fixtures, with their exit codes on bad input.
set -u
persona=$1
fix=$2
models=$3
. "$(dirname "$0")/cli_tiny_model.sh"
cli_test_init pe_train_cli

tiny_recipes
expect_rc 0 "train mlm" "$persona" train mlm --recipe "$tmp/mlm.json" --out "$tmp/mlm" --threads 1
[ -f "$tmp/mlm/best/model.safetensors" ] || die "no best/ after mlm"
grep -q '"eval"' "$tmp/mlm/log.jsonl" || die "no evaluation in log.jsonl"
# a second run on the same folder without --resume is refused; with it, it continues
expect_rc 1 "train mlm again without --resume" "$persona" train mlm --recipe "$tmp/mlm.json" --out "$tmp/mlm" --threads 1
expect_rc 0 "train mlm --resume" "$persona" train mlm --recipe "$tmp/mlm.json" --out "$tmp/mlm" --resume --steps 30 --threads 1
grep -q '"step":30' "$tmp/mlm/log.jsonl" || die "resumed run did not reach step 30"

# skip-gram word vectors as a new encoder's start, then heads from it
sed 's/"train": {/"embed": {"min_count": 1, "epochs": 2}, "train": {/' "$tmp/mlm.json" > "$tmp/embed.json"
expect_rc 0 "train embed" "$persona" train embed --recipe "$tmp/embed.json" --out "$tmp/emb" --threads 1
[ -f "$tmp/emb/best/model.safetensors" ] && [ -f "$tmp/emb/best/vocab.txt" ] || die "train embed wrote no best/"
grep -q "skip-gram vectors of 32 dimensions" "$tmp/err" || { die "train embed: no summary"; cat "$tmp/err"; }
expect_rc 0 "train rel from the embed" "$persona" train rel --recipe "$tmp/tag.json" --init "$tmp/emb/best" --out "$tmp/relemb" --steps 20 --threads 1
expect_rc 0 "train rel --seed" "$persona" train rel --recipe "$tmp/tag.json" --init "$tmp/emb/best" --out "$tmp/relemb7" --steps 20 --seed 7 --threads 1
l1=$(grep -m1 '"loss"' "$tmp/relemb/log.jsonl"); l7=$(grep -m1 '"loss"' "$tmp/relemb7/log.jsonl")
[ -n "$l1" ] && [ -n "$l7" ] && [ "$l1" != "$l7" ] || die "train --seed: the run with seed 7 logged what seed 1 did ($l1)"
expect_rc 2 "train --seed 0" "$persona" train rel --recipe "$tmp/tag.json" --out "$tmp/relemb0" --seed 0
expect_rc 0 "train mlm from the embed" "$persona" train mlm --recipe "$tmp/mlm.json" --init "$tmp/emb/best" --out "$tmp/mlmemb" --steps 10 --threads 1
expect_rc 0 "train mlm --case-types from the embed" "$persona" train mlm --recipe "$tmp/mlm.json" --init "$tmp/emb/best" --out "$tmp/mlmct" --case-types --steps 10 --threads 1
expect_rc 0 "model info of the case-typed MLM run" "$persona" model info "$tmp/mlmct/best"
grep -qE '"persona_case_types":[[:space:]]*true' "$tmp/out" || die "train mlm --case-types: the encoder does not read case types"
grep -qE '"type_vocab_size":[[:space:]]*4' "$tmp/out" || die "train mlm --case-types: not 4 token types"
head -c 8 "$tmp/mlmct/data/train.shard" | grep -q PESHARD2 || die "train mlm: the shard has no case types"
expect_rc 5 "train mlm from a missing model" "$persona" train mlm --recipe "$tmp/mlm.json" --init "$tmp/none" --out "$tmp/mlmx" --steps 10 --threads 1

# stopped (--until) before its first development evaluation: no best/, nothing exported, a clear line, exit 0
expect_rc 0 "train tag --until before the first evaluation" "$persona" train tag --recipe "$tmp/tag.json" --out "$tmp/tagearly" --until 1 --threads 1
grep -q "before the first development evaluation" "$tmp/err" || { die "train tag --until 1: no clear line"; cat "$tmp/err"; }
[ ! -e "$tmp/tagearly/model.pem" ] || die "train tag --until 1 exported a model without a development evaluation"

# fine-tune both heads from the pretrained run and export a .pem
expect_rc 0 "train tag" "$persona" train tag --recipe "$tmp/tag.json" --out "$tmp/tag" --threads 1
model="$tmp/tag/model.pem"
[ -f "$model" ] || die "no model.pem exported"
expect_rc 0 "model info" "$persona" model info "$model"
grep -q '"rel"' "$tmp/out" || die "model info does not list the rel labels"
# "select": false: the ner head's development F1 is logged, the relations' alone choose best/
sed 's/"ner": {/"ner": {"select": false, /' "$tmp/tag.json" > "$tmp/tagsel.json"
expect_rc 0 "train tag with ner's select false" "$persona" train tag --recipe "$tmp/tagsel.json" --out "$tmp/tagsel" --steps 40 --threads 1
command -v python3 >/dev/null && { python3 - "$tmp/tagsel/log.jsonl" <<'PY' || die "select false: mean_metric is not the relations' metric alone"; }
import json, sys
ev = [json.loads(l)["eval"] for l in open(sys.argv[1]) if '"eval"' in l]
assert ev and all(e["mean_metric"] == e["rel.triplet_micro_f1"] and "ner.f1" in e for e in ev), ev
PY
sed 's/"ner": {/"ner": {"select": false, /' "$tmp/tag.json" > "$tmp/nersel.json"
expect_rc 2 "train ner alone with select false" "$persona" train ner --recipe "$tmp/nersel.json" --out "$tmp/nersel" --steps 10 --threads 1
grep -q '"select": false needs another head' "$tmp/err" || die "train ner with select false: no clear message"

# eval
expect_rc 0 "eval ner" "$persona" eval ner --model "$model" --data "$fix/ner/tiny.conll" --type-map PER=person,LOC=location,ORG=organization,MISC=work --json
grep -qE '"f1":[[:space:]]*1,' "$tmp/out" || { die "eval ner: the training sentences are not learnt"; cat "$tmp/out"; }
expect_rc 0 "eval rel" "$persona" eval rel --model "$model" --data "$fix/rel/tiny.jsonl" --json
grep -q '"triplet_micro_f1"' "$tmp/out" || die "eval rel: no triplet_micro_f1"
grep -q '"relation_accuracy"' "$tmp/out" || die "eval rel: no relation_accuracy"
expect_rc 4 "eval rel with bad lines" "$persona" eval rel --model "$model" --data "$fix/rel/bad.jsonl"
grep -q "bad.jsonl:2" "$tmp/err" || die "eval rel: the bad line is not named"
expect_rc 1 "eval rel --strict with bad lines" "$persona" eval rel --model "$model" --data "$fix/rel/bad.jsonl" --strict
for d in argmax viterbi grouped; do
    expect_rc 0 "eval ner --decode $d" "$persona" eval ner --model "$model" --data "$fix/ner/tiny.conll" --type-map PER=person,LOC=location,ORG=organization,MISC=work --json --decode "$d"
    grep -qE '"f1":[[:space:]]*1,' "$tmp/out" || { die "eval ner --decode $d: the training sentences are not learnt"; cat "$tmp/out"; }
done
expect_rc 2 "eval ner with an unknown decoding" "$persona" eval ner --model "$model" --data "$fix/ner/tiny.conll" --decode best
expect_rc 4 "eval ner with an unknown type" "$persona" eval ner --model "$model" --data "$fix/ner/tiny.conll" --type-map PER=person
expect_rc 5 "eval with a missing data file" "$persona" eval ner --model "$model" --data "$tmp/none.conll"
expect_rc 2 "eval without --data" "$persona" eval ner --model "$model"

# extract
expect_rc 0 "extract text" "$persona" extract --model "$model" "I met John Smith in Paris."
grep -q '"text":"John Smith","type":"person"' "$tmp/out" || { die "extract: John Smith not found"; cat "$tmp/out"; }
grep -q '"start":6,"end":16' "$tmp/out" || die "extract: character offsets"
printf '{"id": "m1", "text": "i have two dogs and i love pizza"}\n\xff\xfe\n' > "$tmp/in.jsonl"
"$persona" extract --model "$model" < "$tmp/in.jsonl" > "$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc = 4 ] || die "extract with a bad line: exit $rc, wanted 4"
head -1 "$tmp/out" | grep -q '"id":"m1"' || die "extract: the id is not kept"
head -1 "$tmp/out" | grep -q '"relation":"have_pet","object":{"start":11,"end":15,"text":"dogs"}' || { die "extract: have_pet dogs"; head -1 "$tmp/out"; }
sed -n 2p "$tmp/out" | grep -q '"error"' || die "extract: no error line for invalid UTF-8"
expect_rc 5 "extract with a missing model" "$persona" extract --model "$tmp/none.pem" "x"
expect_rc 2 "extract with an unknown option" "$persona" extract --frobnicate
# the NER graph feature: a head trained with --graph over a graph store
expect_rc 0 "kg import for the graph feature" "$persona" kg import --db "$tmp/kg" "$fix/link/graph.json"
expect_rc 0 "train ner --graph" "$persona" train ner --recipe "$tmp/tag.json" --out "$tmp/nerg" --graph "$tmp/kg" --threads 1
grep -q "graph feature" "$tmp/err" || die "train ner --graph: the run does not say it uses the graph feature"
expect_rc 0 "model info of the graph model" "$persona" model info "$tmp/nerg/model.pem"
grep -q '"ner.feat"' "$tmp/out" || die "the graph model has no ner.feat tensor"
expect_rc 0 "eval ner --graph" "$persona" eval ner --model "$tmp/nerg/model.pem" --graph "$tmp/kg" --data "$fix/ner/tiny.conll" --type-map PER=person,LOC=location,ORG=organization,MISC=work --json
grep -qE '"f1":[[:space:]]*1,' "$tmp/out" || { die "eval ner --graph: the training sentences are not learnt"; cat "$tmp/out"; }
expect_rc 0 "extract --graph" "$persona" extract --model "$tmp/nerg/model.pem" --graph "$tmp/kg" "I met John Smith in Paris."
grep -q '"text":"Paris","type":"location"' "$tmp/out" || { die "extract --graph: Paris not found"; cat "$tmp/out"; }
# case types and document context: the encoder reads each word's case as its
# token type; each sentence is read within its -DOCSTART- document
sed 's|"ner": {"types"|"ner": {"doc_context": true, "types"|' "$tmp/tag.json" > "$tmp/tag-ctx.json"
grep -q doc_context "$tmp/tag-ctx.json" || die "the document-context recipe was not made"
expect_rc 0 "train ner --case-types" "$persona" train ner --recipe "$tmp/tag-ctx.json" --out "$tmp/nerc" --case-types --threads 1
grep -q "within its document's context" "$tmp/err" || { die "train ner: document context is not said"; cat "$tmp/err"; }
expect_rc 0 "model info of the case-typed model" "$persona" model info "$tmp/nerc/model.pem"
grep -qE '"persona_case_types":[[:space:]]*true' "$tmp/out" || die "the case-typed model does not say so"
grep -qE '"type_vocab_size":[[:space:]]*4' "$tmp/out" || die "the case-typed model has not 4 token types"
expect_rc 0 "eval ner --doc-context" "$persona" eval ner --model "$tmp/nerc/model.pem" --doc-context --data "$fix/ner/tiny.conll" --type-map PER=person,LOC=location,ORG=organization,MISC=work --json
grep -qE '"f1":[[:space:]]*1,' "$tmp/out" || { die "eval ner --doc-context: the training sentences are not learnt"; cat "$tmp/out"; }
expect_rc 0 "extract with case types" "$persona" extract --model "$tmp/nerc/model.pem" "I met John Smith in Paris."
grep -q '"mentions":\[{' "$tmp/out" || { die "extract with case types: no mention"; cat "$tmp/out"; }
# a model soup: the mean of checkpoint folders of one model, then a model file of it
ck=$(ls -d "$tmp/tag"/ckpt-* 2>/dev/null | tail -1)
[ -n "$ck" ] || die "train tag kept no checkpoint to average"
expect_rc 0 "model average" "$persona" model average "$tmp/soup" "$tmp/tag/best" "$ck"
expect_rc 0 "model convert of the soup" "$persona" model convert "$tmp/soup" "$tmp/soup.pem" --labels "$tmp/soup/labels.json"
expect_rc 0 "extract with the soup" "$persona" extract --model "$tmp/soup.pem" "I met John Smith in Paris."
grep -q '"mentions"' "$tmp/out" || { die "extract with the soup: no output"; cat "$tmp/out"; }
expect_rc 1 "model average of unlike models" "$persona" model average "$tmp/soup2" "$tmp/tag/best" "$tmp/nerc/best"
grep -q "not the same model" "$tmp/err" || { die "model average: unlike models not named"; cat "$tmp/err"; }
expect_rc 2 "model average of one folder" "$persona" model average "$tmp/soup3" "$tmp/tag/best"
# a training file that does not annotate a type: its O words are partial labels
sed 's|"type_map": "PER=person,LOC=location,ORG=organization,MISC=work"}\]|"type_map": "PER=person,LOC=location,ORG=organization,MISC=work", "missing_types": "work", "o_prefix": "@"}]|' "$tmp/tag.json" > "$tmp/tag-partial.json"
grep -q missing_types "$tmp/tag-partial.json" || die "the partial-label recipe was not made"
expect_rc 0 "train ner with missing_types" "$persona" train ner --recipe "$tmp/tag-partial.json" --out "$tmp/nerp" --steps 20 --threads 1
grep -q "trained as O or work" "$tmp/err" || { die "train ner: missing_types is not said"; cat "$tmp/err"; }
# the word-shape feature ("shape": true), alone and with the graph feature
sed 's/"ner": {"types"/"ner": {"shape": true, "types"/' "$tmp/tag.json" > "$tmp/tag-shape.json"
expect_rc 0 "train ner with the shape feature" "$persona" train ner --recipe "$tmp/tag-shape.json" --out "$tmp/ners" --threads 1
grep -q ", shape feature" "$tmp/err" || die "train ner: the run does not say it uses the shape feature"
expect_rc 0 "extract with the shape model" "$persona" extract --model "$tmp/ners/model.pem" "I met John Smith in Paris."
grep -q '"text":"John Smith","type":"person"' "$tmp/out" || { die "extract (shape): John Smith not found"; cat "$tmp/out"; }
expect_rc 0 "train ner with graph and shape features" "$persona" train ner --recipe "$tmp/tag.json" --shape --out "$tmp/nergs" --graph "$tmp/kg" --threads 1
grep -q "graph and shape features" "$tmp/err" || die "train ner: the run does not say it uses both features"
expect_rc 0 "eval ner with both features" "$persona" eval ner --model "$tmp/nergs/model.pem" --graph "$tmp/kg" --data "$fix/ner/tiny.conll" --type-map PER=person,LOC=location,ORG=organization,MISC=work --json
grep -qE '"f1":[[:space:]]*1,' "$tmp/out" || { die "eval ner (graph+shape): the training sentences are not learnt"; cat "$tmp/out"; }
# objects from the graph for a relation ("augment_graph"; --swap-graph)
sed 's|"rel": {"train": "rel/tiny.jsonl"|"rel": {"augment_graph": {"copies": 2, "relations": {"live_in_citystatecountry": ["Q515", "Q6256", "Q999999999"]}}, "train": "rel/tiny.jsonl"|' "$tmp/tag.json" > "$tmp/tag-ag.json"
expect_rc 2 "train rel with augment_graph and no --swap-graph" "$persona" train rel --recipe "$tmp/tag-ag.json" --init "$tmp/emb/best" --out "$tmp/relag0" --steps 5 --threads 1
grep -q -- "--swap-graph" "$tmp/err" || die "train rel: augment_graph without --swap-graph does not say what to give"
expect_rc 0 "train rel --swap-graph" "$persona" train rel --recipe "$tmp/tag-ag.json" --init "$tmp/emb/best" --swap-graph "$tmp/kg" --out "$tmp/relag" --steps 12 --threads 1
grep -qE "2 more training examples of live_in_citystatecountry with one of [0-9]+ graph objects" "$tmp/err" || { die "train rel --swap-graph: no graph objects"; cat "$tmp/err"; }
grep -q "class Q999999999 is not in" "$tmp/err" || die "train rel --swap-graph: an unknown class is not named"
expect_rc 5 "train rel --swap-graph with a missing store" "$persona" train rel --recipe "$tmp/tag-ag.json" --init "$tmp/emb/best" --swap-graph "$tmp/nokg" --out "$tmp/relag2" --steps 5 --threads 1
# names from the graph for an entity type (ner's "augment_graph"): classes by
# P31 (QIDs) and by rdf:type (DBpedia classes), names keep their case
cat > "$tmp/works.nt" <<'NT'
<http://dbpedia.org/resource/Rogue_One> <http://www.w3.org/2000/01/rdf-schema#label> "Rogue One"@en .
<http://dbpedia.org/resource/Rogue_One> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <http://dbpedia.org/ontology/Film> .
NT
expect_rc 0 "kg import of a film" "$persona" kg import --db "$tmp/kg" "$tmp/works.nt"
sed 's|"ner": {"types"|"ner": {"augment_graph": {"copies": 2, "types": {"work": ["http://dbpedia.org/ontology/Film", "Q999999999"], "location": ["Q515", "Q6256"]}}, "types"|' "$tmp/tag.json" > "$tmp/tag-nag.json"
expect_rc 2 "train ner with augment_graph and no --swap-graph" "$persona" train ner --recipe "$tmp/tag-nag.json" --init "$tmp/emb/best" --out "$tmp/nerag0" --steps 5 --threads 1
grep -q -- "--swap-graph" "$tmp/err" || die "train ner: augment_graph without --swap-graph does not say what to give"
expect_rc 0 "train ner --swap-graph" "$persona" train ner --recipe "$tmp/tag-nag.json" --init "$tmp/emb/best" --swap-graph "$tmp/kg" --out "$tmp/nerag" --steps 12 --threads 1
grep -q "ner: 2 more training sentences whose work mentions are one of 1 graph names" "$tmp/err" || { die "train ner --swap-graph: no film names"; cat "$tmp/err"; }
grep -qE "ner: 2 more training sentences whose location mentions are one of [1-9][0-9]* graph names" "$tmp/err" || { die "train ner --swap-graph: no place names"; cat "$tmp/err"; }
grep -q "ner: 7 training sentences" "$tmp/err" || { die "train ner --swap-graph: the copies are not training sentences"; cat "$tmp/err"; }
grep -q "class Q999999999 is not in" "$tmp/err" || die "train ner --swap-graph: an unknown class is not named"
sed 's|"ner": {"types"|"ner": {"augment_graph": {"types": {"film": ["Q11424"]}}, "types"|' "$tmp/tag.json" > "$tmp/tag-nag2.json"
expect_rc 1 "train ner with augment_graph of an unknown type" "$persona" train ner --recipe "$tmp/tag-nag2.json" --init "$tmp/emb/best" --swap-graph "$tmp/kg" --out "$tmp/nerag2" --steps 5 --threads 1
grep -q "type film is not one of" "$tmp/err" || { die "train ner: an unknown augment_graph type is not named"; cat "$tmp/err"; }
expect_rc 5 "train ner --graph with a missing store" "$persona" train ner --recipe "$tmp/tag.json" --out "$tmp/nerg2" --graph "$tmp/nokg" --threads 1
# "repeat" on a training file counts its sentences N times; 0 is refused
sed 's|"train": \[{"path": "ner/tiny.conll",|"train": [{"path": "ner/tiny.conll", "repeat": 3,|' "$tmp/tag.json" > "$tmp/tag-rep.json"
expect_rc 0 "train ner with repeat 3" "$persona" train ner --recipe "$tmp/tag-rep.json" --init "$tmp/emb/best" --out "$tmp/nerrep" --steps 12 --threads 1
grep -q "each sentence counted 3 times (9 in all)" "$tmp/err" || { cat "$tmp/err" >&2; die "train ner with repeat: no count"; }
grep -q "9 training sentences" "$tmp/err" || die "train ner with repeat: the sentences were not repeated"
sed 's|"train": \[{"path": "ner/tiny.conll",|"train": [{"path": "ner/tiny.conll", "repeat": 0,|' "$tmp/tag.json" > "$tmp/tag-rep0.json"
expect_rc 1 "train ner with repeat 0" "$persona" train ner --recipe "$tmp/tag-rep0.json" --init "$tmp/emb/best" --out "$tmp/nerrep0" --steps 4 --threads 1
grep -q '"repeat" must be' "$tmp/err" || die "train ner with repeat 0: not named"
# the weights' moving average: its checkpoints keep it, out of range is refused
sed 's/"train": {/"train": {"ema": 0.9, /' "$tmp/tag.json" > "$tmp/tag-ema.json"
expect_rc 0 "train rel with ema" "$persona" train rel --recipe "$tmp/tag-ema.json" --init "$tmp/emb/best" --out "$tmp/relema" --steps 12 --threads 1
ls "$tmp"/relema/ckpt-*/ema.safetensors >/dev/null 2>&1 || die "train rel with ema: no ema.safetensors in its checkpoints"
sed 's/"train": {/"train": {"ema": 1.5, /' "$tmp/tag.json" > "$tmp/tag-ema2.json"
expect_rc 1 "train rel with ema 1.5" "$persona" train rel --recipe "$tmp/tag-ema2.json" --init "$tmp/emb/best" --out "$tmp/relema2" --steps 5 --threads 1
grep -q "ema 1.5" "$tmp/err" || die "train rel with ema 1.5: the message does not name it"
expect_rc 0 "train --help" "$persona" train --help
grep -q "exit codes" "$tmp/out" || die "train --help lists no exit codes"
expect_rc 2 "train with an unknown objective" "$persona" train xyz --recipe "$tmp/tag.json"
expect_rc 5 "train with a missing recipe" "$persona" train tag --recipe "$tmp/none.json"
[ $fail = 0 ] && echo "train/eval/extract ok"
exit $fail
