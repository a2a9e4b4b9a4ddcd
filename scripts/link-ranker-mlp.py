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


def accuracy(score, M, gold, ing):
    """In-graph accuracy of the argmax of score over each mention's candidates."""
    n = len(gold)
    best, bs, start = np.full(n, -1), np.full(n, -np.inf), np.full(n, -1)
    for j, (m, s) in enumerate(zip(M, score)):
        if start[m] < 0:
            start[m] = j
        if s > bs[m]:
            bs[m], best[m] = s, j
    rank = np.where(best >= 0, best - start, -1)
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", nargs="+", required=True, help="traces to fit on (AIDA dev, as documents and sentences)")
    ap.add_argument("--eval", nargs="+", required=True, help="traces to report")
    ap.add_argument("--hidden", default="16,64", help="MLP widths (default 16,64)")
    ap.add_argument("--epochs", type=int, default=30, help="Adam epochs of the MLPs (default 30)")
    ap.add_argument("--seeds", default="0,1", help="MLP seeds (default 0,1)")
    a = ap.parse_args()
    torch.set_num_threads(2)
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
