#!/usr/bin/python3
"""Would a small MLP rank the linker's candidates better than the shipped
logistic regression? An experiment, not part of the engine: it reads the
candidate features of entity-linking traces (pe_bench_link --trace, one JSON
line a mention with every candidate's features) and fits, on the training
traces, a logistic regression (L-BFGS, L2 1, as pe_link_train's Newton
fit) and one-hidden-layer MLPs (pointwise logistic loss, as the linker
scores candidates), then prints each trace's in-graph accuracy without a NIL
threshold (the highest-scored candidate against the gold; a mention whose
gold is not among its candidates counts wrong), and the same for the scores
the traced C ranker gave.

    W=/tmp/link; scripts/bench-link.sh --no-write --no-oracle --keep $W
    B=build-bench/bench/pe_bench_link; EL=../shared/data/el
    $B --db $W/kg --index $W/kg/link --model $W/ranker.json --trace T/dev.jsonl $EL/aida-conll-dev.benchmark.jsonl
    $B --db $W/kg --index $W/kg/link --model $W/ranker.json --sentences --trace T/devs.jsonl $EL/aida-conll-dev.benchmark.jsonl
    $B ... --trace T/NAME.jsonl $EL/NAME.benchmark.jsonl      (each benchmark)
    /usr/bin/python3 scripts/link-ranker-mlp.py --train T/dev.jsonl T/devs.jsonl --eval T/*.jsonl
    /usr/bin/python3 scripts/link-ranker-mlp.py --nil --train T/dev.jsonl T/devs.jsonl --eval T/*.jsonl

--nil (session 19) measures with NIL thresholds instead, as the linker
decides: two thresholds (texts of at most 4 mentions, the rest) tuned on the
training traces to give up at most 2% of their rightly linked mentions
(pe_link_train's rule), for the traced C ranker, the mean logit of 3 MLPs of
16 units (seeds 0-2) scored on their own, the same MLPs ordering the
candidates while the traced logistic regression's score of the first one
decides NIL (what the linker's reranker does since then), and the mean logit
of the two.

Needs PyTorch (Debian python3-torch, /usr/bin/python3), a benchmark peer
only. Deterministic for a given --seeds."""
import argparse
import json
import os
import sys

import numpy as np
import torch


def load(path):
    """Features (rows x F), labels, mention index of each row, gold rank,
    in-graph flag and the traced C score of each row."""
    X, Y, M, S, gold, ing = [], [], [], [], [], []
    names = None
    with open(path) as f:
        for i, line in enumerate(f):
            o = json.loads(line)
            gold.append(o["gold_rank"])
            ing.append(bool(o["in_graph"]))
            for c in o["candidates"]:
                X.append(c["f"])
                Y.append(1.0 if c["rank"] == o["gold_rank"] else 0.0)
                M.append(i)
                S.append(c["score"])
    return X, np.array(Y, np.float32), np.array(M), np.array(S), np.array(gold), np.array(ing)


def matrix(dicts, names):
    return np.array([[d.get(n, 0.0) for n in names] for d in dicts], np.float32)


def best_per_mention(score, M, n):
    """Index (within its mention) of each mention's best candidate (-1: none) and of its first row."""
    best, bs, start = np.full(n, -1), np.full(n, -np.inf), np.full(n, -1)
    for j, (m, s) in enumerate(zip(M, score)):
        if start[m] < 0:
            start[m] = j
        if s > bs[m]:
            bs[m], best[m] = s, j
    return np.where(best >= 0, best - start, -1), start


def accuracy(score, M, gold, ing):
    """In-graph accuracy of the argmax of score over each mention's candidates."""
    rank, _ = best_per_mention(score, M, len(gold))
    ok = (rank == gold) & (gold >= 0)
    return ok[ing].mean() if ing.any() else float("nan")


def fit_lbfgs(model, X, Y, l2):
    opt = torch.optim.LBFGS(model.parameters(), max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(X).squeeze(-1), Y, reduction="sum")
        loss = loss + 0.5 * l2 * sum((p ** 2).sum() for n, p in model.named_parameters() if "weight" in n)
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)


def fit_adam(model, X, Y, epochs, seed, lr=3e-3, batch=2048):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        perm = torch.randperm(len(X), generator=g)
        for i in range(0, len(X), batch):
            idx = perm[i:i + batch]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(X[idx]).squeeze(-1), Y[idx],
                                                                        reduction="sum") / batch
            opt.zero_grad()
            loss.backward()
            opt.step()


def nil_tune(s, ok, nilg, loss=0.02):
    """pe_link_train's threshold: most mentions right, at most `loss` of the rightly linked given up."""
    o = np.argsort(s, kind="stable")
    s, ok, nilg = s[o], ok[o].astype(int), nilg[o].astype(int)
    linked0 = ok.sum()
    right = best_right = linked = linked0
    best_i = 0
    for i in range(len(s)):
        right += nilg[i] - ok[i]
        linked -= ok[i]
        if linked < (1 - loss) * linked0:
            break
        if i + 1 < len(s) and s[i + 1] == s[i]:
            continue
        if right > best_right:
            best_right, best_i = right, i + 1
    if best_i == 0:
        return 0.0
    return s[-1] + 1e-9 if best_i >= len(s) else 0.5 * (s[best_i - 1] + s[best_i])


def nil_table(tr_paths, ev_paths, epochs):
    """In-graph accuracy with NIL thresholds (see --nil)."""
    tr = [load(p) for p in tr_paths]
    names = sorted({k for t in tr for d in t[0] for k in d})
    Xt = np.concatenate([matrix(t[0], names) for t in tr])
    mu, sd = Xt.mean(0), Xt.std(0) + 1e-6
    X, Y = torch.tensor((Xt - mu) / sd), torch.tensor(np.concatenate([t[1] for t in tr]))
    fi = names.index("few_mentions") if "few_mentions" in names else None

    def prep(path):
        x, y, m, s, g, i = load(path)
        xm = matrix(x, names)
        few = xm[:, fi] if fi is not None else np.zeros(len(m))
        short = np.zeros(len(g), bool)
        for j, mm in enumerate(m):
            short[mm] = few[j] >= 0.25 - 1e-9  # at most 4 mentions linked together
        return torch.tensor((xm - mu) / sd), m, s, g, i, short

    data = {p: prep(p) for p in dict.fromkeys(tr_paths + ev_paths)}
    mlps = []
    for seed in range(3):
        torch.manual_seed(seed)
        mlp = torch.nn.Sequential(torch.nn.Linear(len(names), 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
        fit_adam(mlp, X, Y, epochs, seed)
        mlps.append(mlp)

    def mlp_logit(p):
        with torch.no_grad():
            return sum(mm(data[p][0]).squeeze(-1).numpy() for mm in mlps) / len(mlps)

    def logit(s):
        s = np.clip(s, 1e-12, 1 - 1e-12)
        return np.log(s / (1 - s))

    sig = lambda z: 1 / (1 + np.exp(-z))
    variants = [
        ("traced C ranker (logistic regression)", lambda p: data[p][2], lambda p: data[p][2]),
        ("3 MLPs of 16 (mean logit), their own score for NIL", lambda p: mlp_logit(p), lambda p: sig(mlp_logit(p))),
        ("the MLPs order, the C ranker's score of the first decides NIL", lambda p: mlp_logit(p), lambda p: data[p][2]),
        ("mean logit of the MLPs and the C ranker", lambda p: (mlp_logit(p) + logit(data[p][2])) / 2,
         lambda p: sig((mlp_logit(p) + logit(data[p][2])) / 2)),
    ]
    cols = [os.path.basename(p).replace(".jsonl", "") for p in ev_paths]
    print("| ranker (NIL thresholds short / other) | " + " | ".join(cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for tag, order, nilscore in variants:
        def chosen(p):
            _, m, _, g, i, short = data[p]
            rank, start = best_per_mention(order(p), m, len(g))
            ns = nilscore(p)
            s = np.where(rank >= 0, ns[np.maximum(start + rank, 0)], -np.inf)
            return rank, s, g, i, short
        pts = [chosen(p) for p in tr_paths]
        s = np.concatenate([c[1][c[0] >= 0] for c in pts])
        ok = np.concatenate([((c[0] == c[2]) & (c[2] >= 0))[c[0] >= 0] for c in pts])
        nilg = np.concatenate([(c[2] < 0)[c[0] >= 0] for c in pts])
        sh = np.concatenate([c[4][c[0] >= 0] for c in pts])
        ts, tl = nil_tune(s[sh], ok[sh], nilg[sh]), nil_tune(s[~sh], ok[~sh], nilg[~sh])
        accs = []
        for p in ev_paths:
            rank, s, g, i, short = chosen(p)
            linked = (rank >= 0) & (s >= np.where(short, ts, tl))
            accs.append((linked & (rank == g) & (g >= 0))[i].mean() if i.any() else float("nan"))
        print(f"| {tag} ({ts:.3f} / {tl:.3f}) | " + " | ".join(f"{v:.3f}" for v in accs) + " |", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", nargs="+", required=True, help="traces to fit on (AIDA dev, as documents and sentences)")
    ap.add_argument("--eval", nargs="+", required=True, help="traces to report")
    ap.add_argument("--hidden", default="16,64", help="MLP widths (default 16,64)")
    ap.add_argument("--epochs", type=int, default=30, help="Adam epochs of the MLPs (default 30)")
    ap.add_argument("--seeds", default="0,1", help="MLP seeds (default 0,1)")
    ap.add_argument("--nil", action="store_true", help="with NIL thresholds, as the linker decides (see above)")
    a = ap.parse_args()
    torch.set_num_threads(2)
    if a.nil:
        nil_table(a.train, a.eval, a.epochs)
        return
    tr = [load(p) for p in a.train]
    names = sorted({k for t in tr for d in t[0] for k in d})
    Xt = np.concatenate([matrix(t[0], names) for t in tr])
    Yt = np.concatenate([t[1] for t in tr])
    mu, sd = Xt.mean(0), Xt.std(0) + 1e-6
    X, Y = torch.tensor((Xt - mu) / sd), torch.tensor(Yt)
    ev = {}
    for p in a.eval:
        x, y, m, s, g, i = load(p)
        ev[os.path.basename(p).replace(".jsonl", "")] = (torch.tensor((matrix(x, names) - mu) / sd), m, s, g, i)
    print(f"# {len(names)} features; {len(Yt)} candidate rows from {', '.join(a.train)}", file=sys.stderr)
    cols = list(ev)
    print("| ranker | " + " | ".join(cols) + " |")
    print("|---|" + "---:|" * len(cols))

    def row(tag, scores):
        print(f"| {tag} | " + " | ".join(f"{accuracy(scores(c), *ev[c][1:2], *ev[c][3:5]):.3f}" for c in cols) + " |",
              flush=True)

    row("traced C ranker (logistic regression)", lambda c: ev[c][2])

    def model_scores(model):
        def f(c):
            with torch.no_grad():
                return model(ev[c][0]).squeeze(-1).numpy()
        return f

    torch.manual_seed(0)
    lr = torch.nn.Linear(len(names), 1)
    fit_lbfgs(lr, X, Y, 1.0)
    row("logistic regression, L-BFGS, L2 1", model_scores(lr))
    for h in (int(v) for v in a.hidden.split(",")):
        for seed in (int(v) for v in a.seeds.split(",")):
            torch.manual_seed(seed)
            mlp = torch.nn.Sequential(torch.nn.Linear(len(names), h), torch.nn.ReLU(), torch.nn.Linear(h, 1))
            fit_adam(mlp, X, Y, a.epochs, seed)
            row(f"MLP {h} ReLU, Adam {a.epochs} epochs, seed {seed}", model_scores(mlp))
        torch.manual_seed(0)
        mlp = torch.nn.Sequential(torch.nn.Linear(len(names), h), torch.nn.Tanh(), torch.nn.Linear(h, 1))
        fit_lbfgs(mlp, X, Y, 10.0)
        row(f"MLP {h} tanh, L-BFGS, L2 10", model_scores(mlp))


if __name__ == "__main__":
    main()
