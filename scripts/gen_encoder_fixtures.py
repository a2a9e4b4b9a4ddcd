#!/usr/bin/python3
"""Generates the encoder's golden fixtures (tests/fixtures/encoder/).

A tiny BERT built from torch primitives (not transformers), random seeded
weights saved as safetensors with Hugging Face names in F32, F16 and BF16,
config.json and vocab.txt beside each, and the expected hidden states
computed in float64 from the exact weights each file holds (F16/BF16 weights
upcast), so the C tests' tolerance only covers float32 arithmetic.

    /usr/bin/python3 scripts/gen_encoder_fixtures.py [OUT_DIR]

Needs Debian's python3-torch (apt-get install python3-torch); CI does not
run it, the fixtures are committed. Output is deterministic.
"""
import json
import math
import os
import struct
import sys

import torch

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "encoder")

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = """i my me you we the a an and or but is am are was be have has had do
like likes love live lives living in on at from to of with for my dog cat cats
pet pets music band song rock jazz food pizza pasta coffee tea work works job
company engineer teacher doctor city country paris berlin london tokyo rome
france germany england japan italy play plays guitar piano read books movie
movies old years year two three ten new york blue red favorite color home
born child children wife husband friend run running""".split()
WORDS = list(dict.fromkeys(WORDS))  # keep order, drop repeats
PIECES = ["##s", "##ing", "##ed", "##er", "##ly", "##y", ".", ",", "!", "?", ":", "'"]
LETTERS = list("bcefghjklnopqrstuvwxz")
VOCAB = SPECIAL + WORDS + PIECES + LETTERS
assert len(VOCAB) == len(set(VOCAB)), "duplicate vocab entries"

CONFIG = {
    "architectures": ["BertModel"], "model_type": "bert",
    "vocab_size": len(VOCAB), "hidden_size": 32, "num_hidden_layers": 2,
    "num_attention_heads": 4, "intermediate_size": 64,
    "max_position_embeddings": 64, "type_vocab_size": 2,
    "layer_norm_eps": 1e-12, "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
    "initializer_range": 0.02, "pad_token_id": 0,
}

# Texts whose WordPiece ids are unambiguous (lower-case ASCII words of the
# vocabulary, punctuation split off); the C end-to-end test tokenizes them.
TEXTS = [
    "I live in Paris.",
    "My dog likes jazz music and pizza!",
    "we play guitar",
    "Two cats, a dog and ten books: my children love pets?",
]


def wordpiece(text):
    """BERT basic tokenizer (lower-case, punctuation split) + greedy WordPiece."""
    ids = [VOCAB.index("[CLS]")]
    words, cur = [], ""
    for ch in text.lower():
        if ch.isspace():
            if cur: words.append(cur); cur = ""
        elif not ch.isalnum():
            if cur: words.append(cur); cur = ""
            words.append(ch)
        else:
            cur += ch
    if cur: words.append(cur)
    for w in words:
        start, sub = 0, []
        while start < len(w):
            end, found = len(w), None
            while start < end:
                piece = ("##" if start > 0 else "") + w[start:end]
                if piece in VOCAB: found = piece; break
                end -= 1
            if found is None: sub = ["[UNK]"]; break
            sub.append(found); start = end
        ids += [VOCAB.index(p) for p in sub]
    ids.append(VOCAB.index("[SEP]"))
    return ids


def make_weights(gen):
    C, I, V = CONFIG["hidden_size"], CONFIG["intermediate_size"], CONFIG["vocab_size"]
    P, Y, L = CONFIG["max_position_embeddings"], CONFIG["type_vocab_size"], CONFIG["num_hidden_layers"]

    def rnd(*shape, std=0.2):
        return torch.randn(*shape, generator=gen, dtype=torch.float64) * std

    def ln(name):
        w[name + ".weight"] = 1.0 + rnd(C, std=0.1)
        w[name + ".bias"] = rnd(C, std=0.1)

    w = {}
    w["embeddings.word_embeddings.weight"] = rnd(V, C, std=0.5)
    w["embeddings.position_embeddings.weight"] = rnd(P, C, std=0.5)
    w["embeddings.token_type_embeddings.weight"] = rnd(Y, C, std=0.5)
    ln("embeddings.LayerNorm")
    for l in range(L):
        p = f"encoder.layer.{l}."
        for n in ("query", "key", "value"):
            w[p + f"attention.self.{n}.weight"] = rnd(C, C, std=1 / math.sqrt(C))
            w[p + f"attention.self.{n}.bias"] = rnd(C, std=0.1)
        w[p + "attention.output.dense.weight"] = rnd(C, C, std=1 / math.sqrt(C))
        w[p + "attention.output.dense.bias"] = rnd(C, std=0.1)
        ln(p + "attention.output.LayerNorm")
        w[p + "intermediate.dense.weight"] = rnd(I, C, std=1 / math.sqrt(C))
        w[p + "intermediate.dense.bias"] = rnd(I, std=0.1)
        w[p + "output.dense.weight"] = rnd(C, I, std=1 / math.sqrt(I))
        w[p + "output.dense.bias"] = rnd(C, std=0.1)
        ln(p + "output.LayerNorm")
    w["pooler.dense.weight"] = rnd(C, C, std=1 / math.sqrt(C))
    w["pooler.dense.bias"] = rnd(C, std=0.1)
    return w


def layer_norm(x, g, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * g + b


def gelu(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def bert_forward(w, ids, types):
    """One sequence, float64. Returns the hidden states of every layer
    (index 0 = embedding output) and the pooler output."""
    C, H, L = CONFIG["hidden_size"], CONFIG["num_attention_heads"], CONFIG["num_hidden_layers"]
    D, eps = C // H, CONFIG["layer_norm_eps"]
    n = len(ids)
    ids_t, types_t = torch.tensor(ids), torch.tensor(types)
    x = (w["embeddings.word_embeddings.weight"][ids_t] + w["embeddings.position_embeddings.weight"][:n]
         + w["embeddings.token_type_embeddings.weight"][types_t])
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    states = [x]
    for l in range(L):
        p = f"encoder.layer.{l}."
        lin = lambda t, name: t @ w[p + name + ".weight"].T + w[p + name + ".bias"]
        q = lin(x, "attention.self.query").view(n, H, D).transpose(0, 1)
        k = lin(x, "attention.self.key").view(n, H, D).transpose(0, 1)
        v = lin(x, "attention.self.value").view(n, H, D).transpose(0, 1)
        a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(D), dim=-1)
        ctx = (a @ v).transpose(0, 1).reshape(n, C)
        x = layer_norm(x + lin(ctx, "attention.output.dense"), w[p + "attention.output.LayerNorm.weight"],
                       w[p + "attention.output.LayerNorm.bias"], eps)
        f = gelu(lin(x, "intermediate.dense"))
        x = layer_norm(x + lin(f, "output.dense"), w[p + "output.LayerNorm.weight"],
                       w[p + "output.LayerNorm.bias"], eps)
        states.append(x)
    pooled = torch.tanh(x[0] @ w["pooler.dense.weight"].T + w["pooler.dense.bias"])
    return states, pooled


ST_DTYPE = {torch.float32: ("F32", 4), torch.float16: ("F16", 2), torch.bfloat16: ("BF16", 2)}


def save_safetensors(path, tensors, metadata=None):
    """The safetensors layout: u64 LE header length, JSON header, raw data."""
    header, blobs, off = {}, [], 0
    if metadata: header["__metadata__"] = metadata
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        code, size = ST_DTYPE[t.dtype]
        raw = t.view(torch.int16).numpy().tobytes() if size == 2 else t.numpy().tobytes()
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw); off += len(raw)
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)  # HF pads the header to 8 bytes
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj))); f.write(hj)
        for b in blobs: f.write(b)


def flat(t):
    return [float("%.9g" % v) for v in t.reshape(-1).tolist()]


def main():
    gen = torch.Generator().manual_seed(20261128)
    w64 = make_weights(gen)
    # Sequences of different lengths (1, 5, 17, 40) with given ids and types.
    V, Y = CONFIG["vocab_size"], CONFIG["type_vocab_size"]
    seqs = []
    for n in (1, 5, 17, 40):
        ids = [2] + torch.randint(5, V, (max(n - 1, 0),), generator=gen).tolist()
        ids = ids[:n]
        cut = n // 2
        types = [0] * cut + [1] * (n - cut) if n > 1 else [0]
        seqs.append({"ids": ids, "type_ids": types})
    for t in TEXTS:
        ids = wordpiece(t)
        assert VOCAB.index("[UNK]") not in ids, t
        seqs.append({"text": t, "ids": ids, "type_ids": [0] * len(ids)})

    variants = [("f32", torch.float32, "bert."), ("f16", torch.float16, ""), ("bf16", torch.bfloat16, "")]
    expected = {"config": CONFIG, "sequences": seqs,
                "note": "hidden states in float64 from the upcast weights of each file"}
    for tag, dt, prefix in variants:
        d = os.path.join(OUT, "tiny-" + tag)
        os.makedirs(d, exist_ok=True)
        stored = {k: v.to(dt) for k, v in w64.items()}
        files = {prefix + k: v for k, v in stored.items()}
        if tag == "f32":
            # an MLM head tensor as in bert-base-uncased: reported, allowed
            files["cls.predictions.bias"] = torch.zeros(V, dtype=dt)
        if tag == "bf16":
            # old TF-converted checkpoints call LayerNorm weights gamma/beta
            for k in list(files):
                if k.startswith("embeddings.LayerNorm."):
                    v = files.pop(k)
                    files[k.replace(".weight", ".gamma").replace(".bias", ".beta")] = v
        save_safetensors(os.path.join(d, "model.safetensors"), files, {"format": "pt"})
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(CONFIG, f, indent=2)
        with open(os.path.join(d, "vocab.txt"), "w") as f:
            f.write("\n".join(VOCAB) + "\n")
        wu = {k: v.to(torch.float64) for k, v in stored.items()}
        res = {"layer1": [], "last": [], "pooler": [], "mean": []}
        for s in seqs:
            states, pooled = bert_forward(wu, s["ids"], s["type_ids"])
            res["layer1"] += flat(states[1]); res["last"] += flat(states[-1])
            res["pooler"] += flat(pooled); res["mean"] += flat(states[-1].mean(0))
        expected[tag] = res
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, separators=(",", ":"))
    print("wrote", OUT)


if __name__ == "__main__":
    main()
