#!/usr/bin/python3
"""PyTorch side of scripts/bench-train.sh: the MLM training step of
bench/train_bench.c (pe_bench_train) in plain torch, timed the same way.

The model is BERT (post-LN, exact-erf GELU, Hugging Face's dropout sites:
embeddings' LayerNorm output, attention probabilities, attention output
projection, FFN output projection) with BertForMaskedLM's head
(transform dense + GELU + LayerNorm, decoder tied to the word embeddings,
cls.predictions.bias), written with torch.nn.functional on nn.Parameter
tensors; weights N(0, 0.02), biases 0, LayerNorm 1/0. A batch is B
sequences of S tokens ([CLS] ... [SEP]); all have the same length, so
attention runs as one (B, H, S, S) product per layer with no padding mask
(the same arithmetic as ours per sequence). As ours, the head runs only on
the masked positions (15 % of the non-special tokens, 80 % [MASK], 10 %
random, 10 % kept; a new mask each step, drawn outside the timing);
Hugging Face's BertForMaskedLM would run the decoder on every token.
A step: zero_grad, forward, mean cross-entropy, backward,
clip_grad_norm_(1.0), torch.optim.AdamW (lr 5e-4, betas (0.9, 0.98),
eps 1e-6, weight decay 0.01 except biases and LayerNorm weights).

    OMP_WAIT_POLICY=passive /usr/bin/python3 scripts/bench_train_torch.py [--threads 2] [--steps 5]
        [--min-time S] [--json FILE] [--foreach] [--cpu-time] [sizes as pe_bench_train]

OMP_WAIT_POLICY=passive is set here when absent (it must be before torch
loads): with the default policy its OpenMP workers spin and it runs slower
than it can on a shared machine.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "passive")
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def build(a):
    C, I, V = a.hidden, a.intermediate, a.vocab
    g = torch.Generator().manual_seed(1)

    def w(*shape):
        return torch.nn.Parameter(torch.randn(shape, generator=g) * 0.02)

    def zeros(n): return torch.nn.Parameter(torch.zeros(n))

    def ones(n): return torch.nn.Parameter(torch.ones(n))

    p = {"word": w(V, C), "pos": w(a.seq, C), "type": w(2, C), "eln_g": ones(C), "eln_b": zeros(C)}
    for l in range(a.layers):
        p.update({f"{l}.qkv_w": w(3 * C, C), f"{l}.qkv_b": zeros(3 * C), f"{l}.ao_w": w(C, C), f"{l}.ao_b": zeros(C),
                  f"{l}.aln_g": ones(C), f"{l}.aln_b": zeros(C), f"{l}.i_w": w(I, C), f"{l}.i_b": zeros(I),
                  f"{l}.o_w": w(C, I), f"{l}.o_b": zeros(C), f"{l}.oln_g": ones(C), f"{l}.oln_b": zeros(C)})
    p.update({"h_w": w(C, C), "h_b": zeros(C), "hln_g": ones(C), "hln_b": zeros(C), "h_bias": zeros(V)})
    return p


def no_decay(name):
    return name.endswith("_b") or name.endswith("_g") or name == "h_bias"


def step_loss(p, a, ids, rows, labels, timer):
    B, S, C, H = a.batch, a.seq, a.hidden, a.heads
    D, eps, pd = C // H, 1e-12, a.dropout
    x = p["word"][ids] + p["pos"][:S].unsqueeze(0) + p["type"][0]
    x = F.dropout(F.layer_norm(x, (C,), p["eln_g"], p["eln_b"], eps), pd)
    for l in range(a.layers):
        qkv = F.linear(x, p[f"{l}.qkv_w"], p[f"{l}.qkv_b"]).view(B, S, 3, H, D).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        att = F.dropout(torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D), dim=-1), pd)
        ctx = (att @ v).transpose(1, 2).reshape(B, S, C)
        x = F.layer_norm(x + F.dropout(F.linear(ctx, p[f"{l}.ao_w"], p[f"{l}.ao_b"]), pd), (C,),
                         p[f"{l}.aln_g"], p[f"{l}.aln_b"], eps)
        f = F.gelu(F.linear(x, p[f"{l}.i_w"], p[f"{l}.i_b"]))
        x = F.layer_norm(x + F.dropout(F.linear(f, p[f"{l}.o_w"], p[f"{l}.o_b"]), pd), (C,),
                         p[f"{l}.oln_g"], p[f"{l}.oln_b"], eps)
    timer("forward")
    h = x.reshape(B * S, C).index_select(0, rows)
    t = F.layer_norm(F.gelu(F.linear(h, p["h_w"], p["h_b"])), (C,), p["hln_g"], p["hln_b"], eps)
    loss = F.cross_entropy(F.linear(t, p["word"], p["h_bias"]), labels)
    timer("mlm_loss")
    return loss


def mask_batch(a, raw, g):
    """BERT's 15 % / 80-10-10 masking of the non-special tokens."""
    chosen = (torch.rand(raw.shape, generator=g) < a.mask) & (raw >= 5)
    r = torch.rand(raw.shape, generator=g)
    ids = raw.clone()
    ids[chosen & (r < 0.8)] = 4
    rnd = chosen & (r >= 0.8) & (r < 0.9)
    ids[rnd] = torch.randint(5, a.vocab, (int(rnd.sum()),), generator=g)
    rows = chosen.reshape(-1).nonzero().squeeze(1)
    return ids, rows, raw.reshape(-1)[rows]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for k, v in (("layers", 4), ("hidden", 256), ("heads", 4), ("intermediate", 1024), ("vocab", 16000),
                 ("batch", 32), ("seq", 128), ("threads", 2), ("steps", 5)):
        ap.add_argument("--" + k, type=int, default=v)
    ap.add_argument("--mask", type=float, default=0.15)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--min-time", type=float, default=0.0)
    ap.add_argument("--json")
    ap.add_argument("--foreach", action="store_true", help="AdamW's multi-tensor implementation")
    ap.add_argument("--cpu-time", action="store_true", help="time by process CPU time")
    a = ap.parse_args()
    clock = time.process_time if a.cpu_time else time.perf_counter
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    p = build(a)
    n_params = sum(t.numel() for t in p.values())
    opt = torch.optim.AdamW([{"params": [t for n, t in p.items() if not no_decay(n)], "weight_decay": 0.01},
                             {"params": [t for n, t in p.items() if no_decay(n)], "weight_decay": 0.0}],
                            lr=5e-4, betas=(0.9, 0.98), eps=1e-6, foreach=a.foreach)
    g = torch.Generator().manual_seed(2)
    raw = torch.randint(5, a.vocab, (a.batch, a.seq), generator=g)
    raw[:, 0], raw[:, -1] = 2, 3
    print(f"# PyTorch {torch.__version__} MLM training step: {a.layers} layers, hidden {a.hidden}, {a.heads} heads, "
          f"intermediate {a.intermediate}, vocabulary {a.vocab}, {n_params} parameters\n"
          f"# batch {a.batch} x {a.seq} tokens, mask {a.mask:.2f}, dropout {a.dropout:.2f}, "
          f"{torch.get_num_threads()} threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, "
          f"AdamW foreach={a.foreach}, timed by {'process CPU time' if a.cpu_time else 'wall clock'}", flush=True)
    phases = dict.fromkeys(("forward", "mlm_loss", "backward", "clip", "adamw"), 0.0)
    steps, masked, loss_sum, t_end = [], 0, 0.0, 0.0
    k = -1  # -1: warm-up
    while True:
        if k == 0:
            t_end = clock() + a.min_time
        if k >= a.steps and clock() >= t_end:
            break
        ids, rows, labels = mask_batch(a, raw, g)
        last = [clock()]
        t0 = last[0]
        cur = {}

        def timer(name):
            t = clock()
            cur[name] = t - last[0]
            last[0] = t

        opt.zero_grad(set_to_none=False)
        loss = step_loss(p, a, ids, rows, labels, timer)
        loss.backward()
        timer("backward")
        torch.nn.utils.clip_grad_norm_(list(p.values()), 1.0)
        timer("clip")
        opt.step()
        timer("adamw")
        if k >= 0:
            steps.append(last[0] - t0)
            for n, v in cur.items():
                phases[n] += v
            masked += rows.numel()
            loss_sum += float(loss)
        k += 1
    n = len(steps)
    T = a.batch * a.seq
    best, median, mean = min(steps), statistics.median(steps), statistics.fmean(steps)
    print(f"steps {n}, predicted tokens {masked / n:.0f} a step, loss {loss_sum / n:.3f}")
    print(f"step s: best {best:.4f} median {median:.4f} mean {mean:.4f}; tokens/s: median {T / median:.0f} "
          f"best {T / best:.0f}")
    print("phases (mean s): " + " ".join(f"{k} {v / n:.4f}" for k, v in phases.items()), flush=True)
    if a.json:
        with open(a.json, "a") as f:
            f.write(json.dumps({"peer": "torch", "clock": "cpu" if a.cpu_time else "wall", "torch": torch.__version__, "threads": torch.get_num_threads(),
                                "batch": a.batch, "seq": a.seq, "steps": n, "masked": masked / n, "best_s": best,
                                "median_s": median, "mean_s": mean, "foreach": a.foreach,
                                "phases": {k: v / n for k, v in phases.items()}}) + "\n")


if __name__ == "__main__":
    sys.exit(main())
