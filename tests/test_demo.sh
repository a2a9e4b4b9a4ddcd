#!/usr/bin/env bash
# The main job on embedded defaults: `persona demo` imports the shipped demo
# graph and answers lookups, types and the owl:sameAs merge correctly; with
# no model it says so clearly and still shows the graph part (the enrich
# part with a model is checked by test_enrich.sh).
set -u
persona=$1
out=$(PERSONA_MODEL=/nonexistent/persona-small.pem "$persona" demo 2>&1) || { echo "persona demo failed: $out"; exit 1; }
fail=0
check() { grep -qE "$1" <<<"$out" || { echo "missing: $1"; fail=1; }; }
check '^  1\. Q90 +Paris +prior'                 # Paris (France) ranked first
check '^  2\. Q830149 +Paris'                    # then Paris, Texas
check '^  1\. Q456 +Lyon .*\(alias\)'           # alias lookup
check 'Q515 \(city\), Q486972 \(human settlement\)'  # P279* closure
check 'dbo:City'                                 # types from DBpedia
check 'resolves to Q90'                          # sameAs merge
check 'label +\[fr\] Paris +from source 2 \(ntriples\)'
check 'dbo:populationTotal +2145906'
check '0 skipped'
check '^No persona model at /nonexistent/persona-small.pem'
check 'enrich part of the demo is skipped'
[ $fail = 0 ] || { echo "$out"; exit 1; }
echo "demo ok"
