#!/usr/bin/python3
"""Generates the training fixtures (tests/fixtures/train/) with PyTorch autograd.

A tiny BERT (2 layers, hidden 8, 2 heads, intermediate 16, vocabulary 30)
built from torch primitives with Hugging Face tensor names, random seeded
weights saved as tiny/model.safetensors (F32) + tiny/config.json, and, in
expected.safetensors, computed in float64 from exactly those f32 weights:

  batch.ids, batch.types, batch.lengths (I32)   a packed batch of 3 sequences
  loss.r0, loss.r1, loss.r2 (T, C)              the loss of step k is sum(hidden * r_k)
  hidden (T, C)                                 the forward of the initial weights
  grad.<name>                                   dLoss_0/d<name> at the initial weights
  norm (3)                                      the gradient norm before clipping, steps 1..3
  step3.<name>                                  the weights after 3 steps of
                                                clip_grad_norm_(1.0) + AdamW(lr 1e-2,
                                                weight_decay 0.1, no decay for biases and
                                                LayerNorm weights) with
                                                get_linear_schedule_with_warmup(2, 10)

    /usr/bin/python3 scripts/gen_train_fixtures.py [OUT_DIR]

Needs Debian's python3-torch; CI does not run it, the fixtures are
committed. Output is deterministic.
"""
import json
import math
import os
import struct
import sys

import torch

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "train")

CONFIG = {
    "architectures": ["BertModel"], "model_type": "bert",
    "vocab_size": 30, "hidden_size": 8, "num_hidden_layers": 2,
    "num_attention_heads": 2, "intermediate_size": 16,
    "max_position_embeddings": 16, "type_vocab_size": 2,
    "layer_norm_eps": 1e-12, "hidden_act": "gelu",
}
LENGTHS = [5, 3, 7]
ST_DTYPE = {torch.float32: "F32", torch.int32: "I32"}


def names():
    """Parameter names and shapes in the order of encoder/pe_train.h."""
    c = CONFIG
    V, P, Y = c["vocab_size"], c["max_position_embeddings"], c["type_vocab_size"]
    C, I = c["hidden_size"], c["intermediate_size"]
    out = [("embeddings.word_embeddings.weight", (V, C)),
           ("embeddings.position_embeddings.weight", (P, C)),
           ("embeddings.token_type_embeddings.weight", (Y, C)),
           ("embeddings.LayerNorm.weight", (C,)), ("embeddings.LayerNorm.bias", (C,))]
    for l in range(c["num_hidden_layers"]):
        p = "encoder.layer.%d." % l
        for k in ("query", "key", "value"):
            out += [(p + "attention.self.%s.weight" % k, (C, C)), (p + "attention.self.%s.bias" % k, (C,))]
        out += [(p + "attention.output.dense.weight", (C, C)), (p + "attention.output.dense.bias", (C,)),
                (p + "attention.output.LayerNorm.weight", (C,)), (p + "attention.output.LayerNorm.bias", (C,)),
                (p + "intermediate.dense.weight", (I, C)), (p + "intermediate.dense.bias", (I,)),
                (p + "output.dense.weight", (C, I)), (p + "output.dense.bias", (C,)),
                (p + "output.LayerNorm.weight", (C,)), (p + "output.LayerNorm.bias", (C,))]
    return out


def make_weights(gen):
    """Larger than HF's N(0, 0.02) so that every op's gradient matters."""
    w = {}
    for n, shape in names():
        if n.endswith("LayerNorm.weight"):
            t = 1.0 + 0.2 * torch.randn(shape, generator=gen)
        elif n.endswith("bias"):
            t = 0.2 * torch.randn(shape, generator=gen)
        elif "embeddings" in n:
            t = torch.randn(shape, generator=gen)
        else:
            t = 0.5 * torch.randn(shape, generator=gen)
        w[n] = t.float()
    C = CONFIG["hidden_size"]
    w["pooler.dense.weight"] = (0.5 * torch.randn((C, C), generator=gen)).float()
    w["pooler.dense.bias"] = (0.2 * torch.randn((C,), generator=gen)).float()
    return w


def layer_norm(x, g, b):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), g, b, CONFIG["layer_norm_eps"])


def forward(p, ids, types, lengths):
    """Post-LN BERT over a packed batch, attention within each sequence."""
    c = CONFIG
    C, H = c["hidden_size"], c["num_attention_heads"]
    D = C // H
    pos = torch.cat([torch.arange(n) for n in lengths])
    x = p["embeddings.word_embeddings.weight"][ids] + p["embeddings.position_embeddings.weight"][pos] + \
        p["embeddings.token_type_embeddings.weight"][types]
    x = layer_norm(x, p["embeddings.LayerNorm.weight"], p["embeddings.LayerNorm.bias"])
    for l in range(c["num_hidden_layers"]):
        pre = "encoder.layer.%d." % l
        lin = lambda t, n: t @ p[pre + n + ".weight"].T + p[pre + n + ".bias"]
        q, k, v = lin(x, "attention.self.query"), lin(x, "attention.self.key"), lin(x, "attention.self.value")
        ctx, start = [], 0
        for n in lengths:
            qs, ks, vs = (t[start:start + n].reshape(n, H, D).transpose(0, 1) for t in (q, k, v))
            a = torch.softmax(qs @ ks.transpose(1, 2) / math.sqrt(D), dim=-1)
            ctx.append((a @ vs).transpose(0, 1).reshape(n, C))
            start += n
        ctx = torch.cat(ctx)
        x = layer_norm(x + lin(ctx, "attention.output.dense"), p[pre + "attention.output.LayerNorm.weight"],
                       p[pre + "attention.output.LayerNorm.bias"])
        f = torch.nn.functional.gelu(lin(x, "intermediate.dense"))  # exact erf form
        x = layer_norm(x + lin(f, "output.dense"), p[pre + "output.LayerNorm.weight"],
                       p[pre + "output.LayerNorm.bias"])
    return x


def save_safetensors(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    if metadata: header["__metadata__"] = metadata
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        raw = t.numpy().tobytes()
        header[name] = {"dtype": ST_DTYPE[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw); off += len(raw)
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj))); f.write(hj)
        for b in blobs: f.write(b)


def main():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(20261128)
    w32 = make_weights(gen)
    T, C = sum(LENGTHS), CONFIG["hidden_size"]
    ids = torch.randint(0, CONFIG["vocab_size"], (T,), generator=gen, dtype=torch.int64)
    types = torch.randint(0, CONFIG["type_vocab_size"], (T,), generator=gen, dtype=torch.int64)
    rs = [torch.randn((T, C), generator=gen).float() for _ in range(3)]

    params = {n: torch.nn.Parameter(w32[n].double().clone()) for n, _ in names()}
    hidden = forward(params, ids, types, LENGTHS)
    (hidden * rs[0].double()).sum().backward()
    grads = {n: params[n].grad.detach().clone() for n, _ in names()}

    decay = [params[n] for n, _ in names() if not (n.endswith("bias") or n.endswith("LayerNorm.weight"))]
    no_decay = [params[n] for n, _ in names() if n.endswith("bias") or n.endswith("LayerNorm.weight")]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-2, betas=(0.9, 0.999), eps=1e-8)
    warmup, total = 2, 10
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: s / max(1, warmup) if s < warmup else max(0.0, (total - s) / max(1, total - warmup)))
    norms = []
    for k in range(3):
        opt.zero_grad()
        (forward(params, ids, types, LENGTHS) * rs[k].double()).sum().backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(list(params.values()), 1.0)))
        opt.step()
        sched.step()
    assert all(n > 1.0 for n in norms), "clipping must be active in the fixture: %r" % norms

    os.makedirs(os.path.join(OUT, "tiny"), exist_ok=True)
    save_safetensors(os.path.join(OUT, "tiny", "model.safetensors"), w32, {"format": "pt"})
    with open(os.path.join(OUT, "tiny", "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2); f.write("\n")
    exp = {"batch.ids": ids.int(), "batch.types": types.int(), "batch.lengths": torch.tensor(LENGTHS).int(),
           "hidden": hidden.detach().float(), "norm": torch.tensor(norms).float()}
    for k in range(3): exp["loss.r%d" % k] = rs[k]
    for n, _ in names():
        exp["grad." + n] = grads[n].float()
        exp["step3." + n] = params[n].detach().float()
    save_safetensors(os.path.join(OUT, "expected.safetensors"), exp,
                     {"generator": "scripts/gen_train_fixtures.py", "torch": torch.__version__})
    print("wrote", OUT, "norms", norms)


if __name__ == "__main__":
    main()
