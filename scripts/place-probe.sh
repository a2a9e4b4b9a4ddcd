#!/usr/bin/env bash
# The place probe of docs/MODEL_CARD.md: does the model find where people
# live? Five statements of residence ("i live in X .", "i live in X with my
# wife .", "we moved to X last year .", "i am from X .", "my home is in X .")
# over 30 well-known places and 20 lesser ones, in lower case as PersonaChat
# writes and cased as people write ("I live in Paris."), through `persona
# extract`; a hit is a live_in_citystatecountry relation whose object is the
# place. Prints the four counts (and, with --misses, the sentences missed).
# Since session 12 the lists live here; the probes of sessions 6-10 were
# files outside git, lost with the runs, so their counts are not comparable
# with these.
#   usage: scripts/place-probe.sh [--model PEM] [--misses]
set -euo pipefail
cd "$(dirname "$0")/.."
model=models/persona-small.pem misses=0
while [ $# -gt 0 ]; do
  case $1 in
    --model) model=$2; shift 2 ;;
    --misses) misses=1; shift ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "place-probe.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -x build/cli/persona ] || { cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null; cmake --build build -j"$(nproc)" --target persona_cli >/dev/null; }
MODEL=$model MISSES=$misses python3 - <<'PY'
import json, os, subprocess
known = ["Paris", "Lyon", "London", "Tokyo", "Berlin", "Madrid", "Rome", "Chicago", "Boston", "Seattle",
         "Toronto", "Sydney", "Dublin", "Mumbai", "Cairo", "Moscow", "Beijing", "Mexico City", "New York",
         "Los Angeles", "San Francisco", "Amsterdam", "Vienna", "Prague", "Lisbon", "Canada", "France",
         "Japan", "California", "Texas"]
lesser = ["Kalamazoo", "Bozeman", "Tromso", "Nakuru", "Dunedin", "Tartu", "Oaxaca", "Ghent", "Bendigo",
          "Gdansk", "Asheville", "Leuven", "Cusco", "Hobart", "Mysore", "Aarhus", "Galway", "Salta",
          "Windhoek", "Zermatt"]
templates = ["i live in {} .", "i live in {} with my wife .", "we moved to {} last year .", "i am from {} .",
             "my home is in {} ."]
def cased(t, place):
    s = t.format(place).replace(" .", ".")
    return s[0].upper() + s[1:]
rows = []
for group, places in (("30 places", known), ("20 lesser places", lesser)):
    for p in places:
        for t in templates:
            rows.append((group, "lower case", p, t.format(p.lower())))
            rows.append((group, "cased", p, cased(t, p)))
inp = "".join(json.dumps({"text": r[3]}) + "\n" for r in rows)
out = subprocess.run(["build/cli/persona", "extract", "--model", os.environ["MODEL"], "--threads", "2"],
                     input=inp.encode(), capture_output=True, check=True).stdout.decode().splitlines()
hits, total, missed = {}, {}, []
for r, line in zip(rows, out):
    o = json.loads(line)
    ok = any(x["relation"] == "live_in_citystatecountry" and x["object"]["text"].lower() == r[2].lower()
             for x in o["relations"])
    k = (r[0], r[1])
    total[k] = total.get(k, 0) + 1
    hits[k] = hits.get(k, 0) + ok
    if not ok: missed.append(r[3])
for k in total:
    print("%-16s %-10s %3d of %d" % (k[0], k[1], hits[k], total[k]))
if os.environ["MISSES"] == "1":
    print("missed:"); print("\n".join("  " + m for m in missed))
PY
