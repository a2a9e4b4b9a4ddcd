#!/usr/bin/env python3
"""Where a NER model's entity F1 goes on a CoNLL file: runs `persona extract`
on each sentence (its words joined by single spaces, as `persona eval ner`
reads them), matches the mentions to the gold spans (exact span and type),
and prints per type the gold, predicted and right spans, split by whether the
span follows a word "@" on its own (a user name written "@ name", which
WNUT-17's test comments annotate as an entity about 4 times in 10 and its
tweets, where the handle is one word "@name", almost never), and the wrong
predictions by class: the same span with another type, a span overlapping a
gold one (a boundary error), or no gold at all, capitalised or lower-case.

    scripts/ner-errors.py ../shared/data/ner/wnut17/emerging.test.annotated \\
        [--model models/persona-small.pem] [--type-map corporation=organization,group=organization] \\
        [--persona build/cli/persona] [--show N] [--save FILE.jsonl]

--show N lists N wrong predictions of each class with three words around.
--save keeps one JSON line a sentence (words, gold, pred). A reading aid:
tune nothing on a test set with it."""
import argparse
import collections
import json
import subprocess
import sys


def read_conll(path):
    sents, cur = [], []
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if not line.strip() or line.startswith("-DOCSTART-"):
            if cur:
                sents.append(cur)
                cur = []
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        cur.append((parts[0], parts[-1]))
    if cur:
        sents.append(cur)
    return sents


def spans(tags):
    """conlleval's reading: B-T starts, I-T continues T, I-T after another type starts."""
    res, st, ty = [], None, None
    for i, t in enumerate(tags + ["O"]):
        if t == "O" or t.startswith("B-") or (t.startswith("I-") and t[2:] != ty):
            if st is not None:
                res.append((st, i, ty))
                st, ty = None, None
            if t != "O":
                st, ty = i, t[2:]
    return res


def map_tag(tag, tmap):
    """The tag with its type renamed by tmap; a type renamed to O makes it O."""
    if tag == "O":
        return tag
    ty = tmap.get(tag[2:], tag[2:])
    return "O" if ty == "O" else tag[:2] + ty


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data")
    ap.add_argument("--model", default="models/persona-small.pem")
    ap.add_argument("--type-map", default="corporation=organization,group=organization")
    ap.add_argument("--persona", default="build/cli/persona")
    ap.add_argument("--threads", default="2")
    ap.add_argument("--show", type=int, default=0)
    ap.add_argument("--save")
    a = ap.parse_args()
    tmap = dict(kv.split("=", 1) for kv in a.type_map.split(",") if kv)
    sents = read_conll(a.data)
    text = "".join(json.dumps({"id": k, "text": " ".join(w for w, _ in s)}) + "\n" for k, s in enumerate(sents))
    p = subprocess.run([a.persona, "extract", "--model", a.model, "--threads", a.threads], input=text,
                       capture_output=True, text=True)
    if p.returncode not in (0, 4):
        sys.exit("ner-errors: persona extract failed: " + p.stderr.strip()[-500:])
    res = {r["id"]: r for r in map(json.loads, p.stdout.splitlines()) if "id" in r}
    count = collections.Counter()
    wrong = collections.defaultdict(list)
    save = open(a.save, "w") if a.save else None
    for k, s in enumerate(sents):
        words = [w for w, _ in s]
        gold = set(spans([map_tag(t, tmap) for _, t in s]))
        offs, c = [], 0
        for w in words:  # code point offsets of the words in the joined text
            offs.append((c, c + len(w)))
            c += len(w) + 1
        pred = []
        for m in res.get(k, {}).get("mentions", []):
            i = next((i for i, (x, y) in enumerate(offs) if x <= m["start"] < y), None)
            j = next((j for j, (x, y) in enumerate(offs) if x < m["end"] <= y), None)
            if i is not None and j is not None:
                pred.append((i, j + 1, m["type"]))
        if save:
            save.write(json.dumps({"words": words, "gold": sorted(gold), "pred": pred}) + "\n")
        for span in gold:
            at = "after @" if span[0] > 0 and words[span[0] - 1] == "@" else "other"
            count[(span[2], at, "gold")] += 1
            count[(span[2], at, "right")] += span in set(pred)
        for span in set(pred):
            a0, b0, t = span
            at = "after @" if a0 > 0 and words[a0 - 1] == "@" else "other"
            count[(t, at, "pred")] += 1
            if span in gold:
                continue
            over = [g for g in gold if g[0] < b0 and a0 < g[1]]
            if any(g[0] == a0 and g[1] == b0 for g in over):
                cls = "same span, gold " + next(g[2] for g in over if g[0] == a0 and g[1] == b0)
            elif over:
                cls = "overlaps a gold span"
            else:
                w = " ".join(words[a0:b0])
                cls = "no gold, " + ("lower-case" if w == w.lower() else "capitalised")
            wrong[(t, cls)].append(" ".join(words[max(0, a0 - 3):a0]) + " [[" + " ".join(words[a0:b0]) + "]] " +
                                   " ".join(words[b0:b0 + 3]))
    types = sorted({k[0] for k in count})
    tot = collections.Counter()
    print(f"{'type':<14} {'where':<8} {'gold':>5} {'pred':>5} {'right':>5}  precision recall")
    for t in types:
        for at in ("other", "after @"):
            g, pr, r = count[(t, at, "gold")], count[(t, at, "pred")], count[(t, at, "right")]
            tot[at, "g"] += g
            tot[at, "p"] += pr
            tot[at, "r"] += r
            if g or pr:
                print(f"{t:<14} {at:<8} {g:>5} {pr:>5} {r:>5}  {r / pr if pr else 0:9.3f} {r / g if g else 0:6.3f}")
    G = tot["other", "g"] + tot["after @", "g"]
    Pn = tot["other", "p"] + tot["after @", "p"]
    R = tot["other", "r"] + tot["after @", "r"]
    prec, rec = R / Pn if Pn else 0, R / G if G else 0
    print(f"all: gold {G}, predicted {Pn}, right {R}: precision {prec:.4f}, recall {rec:.4f}, "
          f"F1 {2 * prec * rec / (prec + rec) if prec + rec else 0:.4f}")
    print("wrong predictions by class:")
    for (t, cls), ex in sorted(wrong.items(), key=lambda kv: -len(kv[1])):
        print(f"  {len(ex):5d}  {t}: {cls}")
        for e in ex[:a.show]:
            print("           " + e)


if __name__ == "__main__":
    main()
