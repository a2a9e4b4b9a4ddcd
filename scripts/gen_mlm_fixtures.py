#!/usr/bin/python3
"""Generates the MLM step fixture (tests/fixtures/train/mlm_step.safetensors)
with PyTorch autograd: one full masked-language-model training step of a
tiny BERT with Hugging Face's BertForMaskedLM head, as tests/test_train_mlm.c
runs it through pe_train + pe_mlm_head.

Model: the encoder of scripts/gen_train_fixtures.py (post-LN BERT over a
packed batch, exact-erf GELU, its forward reused from there) with a tiny
config (2 layers, hidden 8, 2 heads, intermediate 16, vocabulary 40) and
the head of BertForMaskedLM (cls.predictions):

  t = LayerNorm(gelu(h W^T + b))     transform.dense, transform.LayerNorm
  logits = t E^T + bias              E = embeddings.word_embeddings.weight (tied), bias = cls.predictions.bias
  loss = cross_entropy(logits, labels, ignore_index=-100), mean

Random seeded weights (larger than HF's N(0, 0.02) so that every op's
gradient matters), no dropout. The step: loss.backward(),
clip_grad_norm_(every parameter, 1.0), one torch.optim.AdamW step with the
hyper-parameters of models/mlm-small.json (lr 5e-4, betas (0.9, 0.98), eps
1e-6, weight decay 0.01, not on biases nor LayerNorm weights). Computed in
float64 from exactly the saved f32 weights. Tensors:

  config (I32)            vocab, hidden, layers, heads, intermediate, max_position, type_vocab
  hparams (F32)           lr, beta1, beta2, eps, weight_decay, max_norm
  batch.ids (I32)         the masked input ids, packed (T)
  batch.types (I32)       (T)
  batch.lengths (I32)     (n_seq)
  batch.labels (I32)      the original id at the predicted positions, -100 elsewhere (T)
  <name>                  the initial weights (F32), encoder (HF BertModel names) and head
  hidden (F32)            the encoder's output (T, C)
  loss (F32)              the mean cross-entropy (1)
  norm (F32)              the global gradient norm before clipping (1)
  grad.<name>             dLoss/d<name> before clipping (the word embeddings' includes the
                          tied decoder's gradient)
  update.<name>           the weights after the step minus the initial weights (the f64
                          difference, rounded to f32 once)
  step1.<name>            the weights after the step

    /usr/bin/python3 scripts/gen_mlm_fixtures.py [OUT_DIR]

Needs Debian's python3-torch; CI does not run it, the fixture is committed.
Output is deterministic.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_train_fixtures as enc  # noqa: E402  (encoder names, forward, safetensors writer)

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "train")

CONFIG = dict(enc.CONFIG, vocab_size=40, max_position_embeddings=16)
enc.CONFIG = CONFIG  # the encoder's functions read their module's CONFIG
LR, BETAS, EPS, WD, MAX_NORM = 5e-4, (0.9, 0.98), 1e-6, 0.01, 1.0
LENGTHS = [7, 5, 9]
CLS, SEP, MASK, N_SPECIAL = 2, 3, 4, 5
# (position in the packed batch, what the input becomes): "mask", "keep" or a replacement id
MASKED = [(1, "mask"), (4, "mask"), (5, 17), (8, "mask"), (10, "keep"), (13, "mask"), (15, "mask"), (18, 33)]
HEAD = ["cls.predictions.transform.dense.weight", "cls.predictions.transform.dense.bias",
        "cls.predictions.transform.LayerNorm.weight", "cls.predictions.transform.LayerNorm.bias",
        "cls.predictions.bias"]


def head_weights(gen):
    C, V = CONFIG["hidden_size"], CONFIG["vocab_size"]
    return {HEAD[0]: (0.5 * torch.randn((C, C), generator=gen)).float(),
            HEAD[1]: (0.2 * torch.randn((C,), generator=gen)).float(),
            HEAD[2]: (1.0 + 0.2 * torch.randn((C,), generator=gen)).float(),
            HEAD[3]: (0.2 * torch.randn((C,), generator=gen)).float(),
            HEAD[4]: (0.2 * torch.randn((V,), generator=gen)).float()}


def mlm_loss(p, ids, types, labels):
    h = enc.forward(p, ids, types, LENGTHS)
    u = h @ p[HEAD[0]].T + p[HEAD[1]]
    t = enc.layer_norm(torch.nn.functional.gelu(u), p[HEAD[2]], p[HEAD[3]])  # exact erf form
    logits = t @ p["embeddings.word_embeddings.weight"].T + p[HEAD[4]]
    return h, torch.nn.functional.cross_entropy(logits, labels, ignore_index=-100)


def main():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(20261203)
    w32 = enc.make_weights(gen)
    del w32["pooler.dense.weight"], w32["pooler.dense.bias"]  # not trained, not in pe_train
    w32.update(head_weights(gen))
    T, V = sum(LENGTHS), CONFIG["vocab_size"]
    orig = torch.randint(N_SPECIAL, V, (T,), generator=gen, dtype=torch.int64)
    start = 0
    for n in LENGTHS:
        orig[start], orig[start + n - 1] = CLS, SEP
        start += n
    ids, labels = orig.clone(), torch.full((T,), -100, dtype=torch.int64)
    for pos, what in MASKED:
        assert orig[pos] >= N_SPECIAL, "position %d is a special token" % pos
        labels[pos] = orig[pos]
        ids[pos] = MASK if what == "mask" else orig[pos] if what == "keep" else what
    types = torch.cat([torch.full((n,), s % 2, dtype=torch.int64) for s, n in enumerate(LENGTHS)])

    order = [n for n, _ in enc.names()] + HEAD
    params = {n: torch.nn.Parameter(w32[n].double().clone()) for n in order}
    hidden, loss = mlm_loss(params, ids, types, labels)
    loss.backward()
    grads = {n: params[n].grad.detach().clone() for n in order}
    norm = float(torch.nn.utils.clip_grad_norm_([params[n] for n in order], MAX_NORM))
    assert norm > MAX_NORM, "clipping must be active in the fixture: %g" % norm
    # Adam's first step is ~lr * sign(g): an element whose gradient is at the
    # level of f32 rounding noise could move the other way in the C step. The
    # key bias is 0 in exact arithmetic (see test_train) and is only bounded
    # by the test; elsewhere the smallest gradients are small products (the
    # decoder's share of a word rarely predicted), accurate relative to
    # themselves in f32. Reported, so that a new seed can be judged.
    small = min((float(g.abs()[g != 0].min()) / norm, n) for n, g in grads.items()
                if "attention.self.key.bias" not in n)
    print("smallest clipped gradient |g| %.3g (%s)" % small)

    def no_decay(n): return n.endswith("bias") or n.endswith("LayerNorm.weight")
    opt = torch.optim.AdamW([{"params": [params[n] for n in order if not no_decay(n)], "weight_decay": WD},
                             {"params": [params[n] for n in order if no_decay(n)], "weight_decay": 0.0}],
                            lr=LR, betas=BETAS, eps=EPS)
    opt.step()

    c = CONFIG
    exp = {"config": torch.tensor([c["vocab_size"], c["hidden_size"], c["num_hidden_layers"],
                                   c["num_attention_heads"], c["intermediate_size"],
                                   c["max_position_embeddings"], c["type_vocab_size"]]).int(),
           "hparams": torch.tensor([LR, BETAS[0], BETAS[1], EPS, WD, MAX_NORM]).float(),
           "batch.ids": ids.int(), "batch.types": types.int(), "batch.lengths": torch.tensor(LENGTHS).int(),
           "batch.labels": labels.int(), "hidden": hidden.detach().float(),
           "loss": torch.tensor([float(loss)]).float(), "norm": torch.tensor([norm]).float()}
    for n in order:
        exp[n] = w32[n]
        exp["grad." + n] = grads[n].float()
        exp["update." + n] = (params[n].detach() - w32[n].double()).float()
        exp["step1." + n] = params[n].detach().float()
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "mlm_step.safetensors")
    enc.save_safetensors(path, exp, {"generator": "scripts/gen_mlm_fixtures.py", "torch": torch.__version__})
    print("wrote", path, "loss", float(loss), "norm", norm, "bytes", os.path.getsize(path))


if __name__ == "__main__":
    main()
