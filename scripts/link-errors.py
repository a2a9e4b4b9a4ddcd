#!/usr/bin/env python3
"""Error classes of an entity-linking trace (pe_bench_link --trace F, one JSON
line a mention): the in-graph mentions linked wrong, by class, with their most
frequent surfaces; --show CLASS [N] lists N of them with the text around the
mention and the chosen and gold candidates.

    build-bench/bench/pe_bench_link --db KG --index KG/link --model RANKER \\
        --trace /tmp/dev.trace ../shared/data/el/aida-conll-dev.benchmark.jsonl
    scripts/link-errors.py /tmp/dev.trace [--show team_below_place 20]

Classes: no_candidate (gold not among the candidates), nil_gold_first / nil_gold_lower
(NIL answered, gold first or lower), team_below_place (gold a sports team, a
candidate that is no team chosen), place_below_team, team_vs_team,
lang_people (a language or people chosen), other_rank. Use it on dev, not on
the test sets."""
import collections
import json
import sys


def classify(r):
    cs, g = r["candidates"], r["gold_rank"]
    if g < 0:
        return "no_candidate"
    if r["nil"]:
        return "nil_gold_first" if g == 0 else "nil_gold_lower"
    gc = next(c for c in cs if c["rank"] == g)
    gt, tt = "team" in gc["f"], "team" in cs[0]["f"]
    if gt and not tt:
        return "team_below_place"
    if tt and not gt:
        return "place_below_team"
    if gt and tt:
        return "team_vs_team"
    if "lang_people" in cs[0]["f"]:
        return "lang_people"
    return "other_rank"


def main():
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if args else 2
    show, n = None, 40
    if "--show" in args:
        i = args.index("--show")
        show = args[i + 1]
        if i + 2 < len(args):
            n = int(args[i + 2])
        del args[i:i + 3]
    rows = [json.loads(line) for line in open(args[0])]
    ig = [r for r in rows if r["in_graph"]]
    wrong = [r for r in ig if r["nil"] or not r["candidates"] or r["candidates"][0]["qid"] != r["gold"]]
    print("in graph %d, wrong %d, in-graph accuracy %.4f" % (len(ig), len(wrong), 1 - len(wrong) / max(1, len(ig))))
    classes = collections.defaultdict(list)
    for r in wrong:
        classes[classify(r)].append(r)
    for k, v in sorted(classes.items(), key=lambda x: -len(x[1])):
        top = collections.Counter(r["surface"] for r in v).most_common(12)
        print("%-18s %5d  %s" % (k, len(v), ", ".join("%s %d" % t for t in top)))
    for r in classes.get(show, [])[:n]:
        cs = r["candidates"]
        gl = [c for c in cs if c["rank"] == r["gold_rank"]]
        print("--- %s | gold %s %s | chosen %s" % (r["surface"], r["gold"], gl[0]["label"] if gl else "",
                                                   "NIL" if r["nil"] else "%s %s %.3f" % (cs[0]["qid"], cs[0]["label"], cs[0]["score"])))
        print("    " + (r["left"][-70:] + r["right"][:70]).replace("\n", " "))
    return 0


if __name__ == "__main__":
    sys.exit(main())
