#!/usr/bin/env bash
# The persona command's conventions, for every command (the list comes from
# `persona --help`, so a new command is checked as soon as it is added):
# --help exits 0 and lists the exit codes; an unknown option is a usage
# error (2); the same failure gives the same code everywhere: a missing
# store, input file or model is 5; bad option values are 2; every message
# starts with "persona COMMAND: ".
#   usage: test_cli_conventions.sh PERSONA
set -u
persona=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
# expect CODE ARGS...: runs persona ARGS (stdin empty), checks the exit code
expect() {
  local want=$1; shift
  "$persona" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
  local got=$?
  if [ "$got" != "$want" ]; then
    echo "persona $*: exit $got, want $want"; sed 's/^/  /' "$tmp/err" | head -5; fail=1
  fi
}
cmds=$("$persona" --help | sed -n '/^commands:/,/^$/p' | grep '^  ' | sed -E 's/^  (([a-z]+)( [a-z]+)?) {2,}.*/\1/; s/ +$//')
[ -n "$cmds" ] || { echo "no commands in persona --help"; exit 1; }
while read -r cmd; do
  # shellcheck disable=SC2086
  expect 0 $cmd --help
  for code in 0 1 2 3 4 5; do
    grep -q "exit codes:.*\b$code\b\|^ \+.*\b$code [a-z]" "$tmp/out" \
      || { echo "persona $cmd --help does not list exit code $code"; fail=1; }
  done
  # shellcheck disable=SC2086
  expect 2 $cmd --no-such-option
  grep -q "^persona $cmd: unknown option '--no-such-option'" "$tmp/err" \
    || { echo "persona $cmd: no 'persona $cmd: unknown option' message"; cat "$tmp/err"; fail=1; }
done <<<"$cmds"

# the same failure, the same code
nodb=$tmp/no-store
expect 5 kg stats --db "$nodb"
expect 5 kg lookup Paris --db "$nodb"
expect 5 kg entity Q90 --db "$nodb"
expect 5 kg types Q90 --db "$nodb"
grep -q "^persona kg types: no graph store at $nodb" "$tmp/err" || { echo "kg types: message"; cat "$tmp/err"; fail=1; }
expect 5 kg verify --db "$nodb"
expect 5 kg import "$tmp/missing.json" --db "$tmp/db1"
[ ! -e "$tmp/db1" ] || { echo "kg import of a missing file made a store"; fail=1; }
expect 5 encode --model "$tmp/missing-model"
expect 5 model info "$tmp/missing-model"
expect 5 model convert "$tmp/missing-dir" "$tmp/out.pem"
PERSONA_DB=$nodb expect 5 kg stats
expect 5 vocab "$tmp/missing.txt" --out "$tmp/vocab.txt"
expect 5 train mlm --recipe "$tmp/missing-recipe.json"
expect 5 eval ner --data "$tmp/missing.conll" --model "$tmp/missing-model"
expect 5 extract --model "$tmp/missing-model" text
expect 5 link index --db "$nodb"
expect 5 eval link --data "$tmp/missing.jsonl" --db "$nodb"

# usage errors: options that were taken as files, bad numbers, empty values
echo "<http://example.org/a> <http://example.org/b> <http://example.org/c> ." > "$tmp/empty.json"
expect 2 kg import -x --db "$tmp/db2"
expect 2 kg import "$tmp/empty.json" -x --db "$tmp/db2"
expect 2 kg import "$tmp/empty.json" --max-line -1 --db "$tmp/db2"
expect 2 kg import "$tmp/empty.json" --batch -1 --db "$tmp/db2"
expect 2 kg import "$tmp/empty.json" --batch 0 --db "$tmp/db2"
expect 2 kg import "$tmp/empty.json" --batch 99999999999999999999999 --db "$tmp/db2"
expect 2 kg import "$tmp/empty.json" --max-line 18446744073709551616 --db "$tmp/db2"
expect 2 kg import "$tmp/empty.json" --batch 12abc --db "$tmp/db2"
expect 2 kg import "$tmp/empty.json" --lang , --db "$tmp/db2"
expect 2 kg import "$tmp/empty.json" --lang en,,fr --db "$tmp/db2"
expect 2 kg import "$tmp/empty.json" --db ''
expect 2 kg import "$tmp/empty.json" --db
[ ! -e "$tmp/db2" ] || { echo "a usage error made a store"; fail=1; }
expect 2 kg fetch http://127.0.0.1:9/x.json --sha256 zz
expect 2 kg fetch http://127.0.0.1:9/x.json --retries -1
expect 2 kg fetch file:///etc/hostname -o "$tmp/hostname"   # a scheme other than http(s) without --any-scheme
expect 2 kg verify extra --db "$nodb"
expect 2 kg fetch --wikidata-ids Q42 --lang ,
expect 2 kg lookup Paris --limit 0 --db "$nodb"
expect 2 kg lookup Paris --limit 100001 --db "$nodb"
expect 2 kg lookup --db "$nodb"
expect 2 kg lookup Paris Texas --db "$nodb"
expect 2 encode --model x --pool median
expect 2 encode --model x --batch 0
expect 2 kg stats --json=yes
expect 2 vocab --size -1 "$tmp/empty.json"
expect 2 train mlm --recipe x --steps 0
expect 2 train mlm --recipe x --threads 99999999999999999999
expect 2 eval ner --data x --threads 0
expect 2 extract --threads -1 text
expect 2 link --k 0 --db "$nodb"
expect 2 link train --data x --nil-loss 2 --db "$nodb"
# accepted forms: --name=value, and a good value after a bad one is not needed
expect 0 kg import "$tmp/empty.json" --format ntriples --batch=5 --max-line 100 --lang en,zh-hans --db "$tmp/db3"
[ $fail = 0 ] && echo "cli conventions ok: $(wc -l <<<"$cmds") commands"
exit $fail
