#!/usr/bin/python3
"""Peer side of the encoder benchmark (scripts/bench-encoder.sh).

Run with Debian's /usr/bin/python3 (python3-torch 1.13); no other package
is needed (safetensors is written by hand, ONNX by torch.onnx.export).

  encoder_peers.py gen DIR --config base|small [--seed N]
      A BERT from torch primitives with random weights (std 0.02): writes
      DIR/config.json, DIR/model.safetensors (Hugging Face BertModel names),
      and a spot check: DIR/check_ids.bin (int32, 2 x 16) and
      DIR/check_hidden.bin (float32, 2 x 16 x C, last layer) for ours to
      compare against, so that every peer provably runs the same weights.
  encoder_peers.py export DIR
      DIR/model.onnx (opset 14, input_ids (batch, seq) int64 -> hidden).
  encoder_peers.py torch DIR --shapes 1x32,8x128 [--threads 2] [--min-time S] [--cpu-time]
      Times the torch forward (inference_mode, set_num_threads; fastest single
      forward over >= 5 runs and --min-time seconds) per shape and
      prints one JSON line per shape: {"peer", "batch", "seq", "sec"}.
      Set OMP_WAIT_POLICY=passive in the environment (bench-encoder.sh does).
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

CONFIGS = {
    "base": dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, max_position_embeddings=512, type_vocab_size=2),
    "small": dict(vocab_size=30522, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                  intermediate_size=1024, max_position_embeddings=512, type_vocab_size=2),
}


class Attn(nn.Module):
    def __init__(self, c, h):
        super().__init__()
        self.h, self.d = h, c // h  # Python ints: constants in the ONNX trace
        self.self = nn.Module()
        self.self.query, self.self.key, self.self.value = nn.Linear(c, c), nn.Linear(c, c), nn.Linear(c, c)
        self.output = nn.Module()
        self.output.dense = nn.Linear(c, c)
        self.output.LayerNorm = nn.LayerNorm(c, eps=1e-12)


class Layer(nn.Module):
    def __init__(self, c, h, i):
        super().__init__()
        self.attention = Attn(c, h)
        self.intermediate = nn.Module()
        self.intermediate.dense = nn.Linear(c, i)
        self.output = nn.Module()
        self.output.dense = nn.Linear(i, c)
        self.output.LayerNorm = nn.LayerNorm(c, eps=1e-12)

    def forward(self, x):
        b, t, c = x.shape
        a = self.attention
        h, d = a.h, a.d

        def heads(y):
            return y.view(b, t, h, d).transpose(1, 2)  # (b, h, t, d)

        q, k, v = heads(a.self.query(x)), heads(a.self.key(x)), heads(a.self.value(x))
        p = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d), dim=-1)
        ctx = torch.matmul(p, v).transpose(1, 2).reshape(b, t, c)
        x = a.output.LayerNorm(x + a.output.dense(ctx))
        f = F.gelu(self.intermediate.dense(x))  # erf form, as BERT
        return self.output.LayerNorm(x + self.output.dense(f))


class Bert(nn.Module):
    """HF BertModel without pooler and without padding mask (all sequences
    of a batch have the same length in the benchmark)."""

    def __init__(self, cfg):
        super().__init__()
        c = cfg["hidden_size"]
        self.embeddings = nn.Module()
        self.embeddings.word_embeddings = nn.Embedding(cfg["vocab_size"], c)
        self.embeddings.position_embeddings = nn.Embedding(cfg["max_position_embeddings"], c)
        self.embeddings.token_type_embeddings = nn.Embedding(cfg["type_vocab_size"], c)
        self.embeddings.LayerNorm = nn.LayerNorm(c, eps=1e-12)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(
            [Layer(c, cfg["num_attention_heads"], cfg["intermediate_size"]) for _ in range(cfg["num_hidden_layers"])])

    def forward(self, ids):
        e = self.embeddings
        t = ids.shape[1]
        pos = torch.arange(t, device=ids.device).unsqueeze(0)
        x = e.word_embeddings(ids) + e.position_embeddings(pos) + e.token_type_embeddings(torch.zeros_like(ids))
        x = e.LayerNorm(x)
        for layer in self.encoder.layer:
            x = layer(x)
        return x


def build(cfg, seed):
    torch.manual_seed(seed)
    m = Bert(cfg)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if "LayerNorm" in name:
                p.copy_(1.0 + 0.1 * torch.randn_like(p) if name.endswith("weight") else 0.1 * torch.randn_like(p))
            else:
                p.normal_(0.0, 0.02)
    return m.eval()


def save_safetensors(path, tensors):
    header, off, blobs = {}, 0, []
    for name, t in tensors.items():
        b = t.detach().contiguous().to(torch.float32).numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    header["__metadata__"] = {"format": "pt", "generator": "persona scripts/encoder_peers.py (random weights)"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load_model(d):
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(d, "model.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    m = Bert(cfg)
    sd = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        a, b = meta["data_offsets"]
        sd[name] = torch.frombuffer(bytearray(data[a:b]), dtype=torch.float32).reshape(meta["shape"])
    m.load_state_dict(sd)
    return m.eval(), cfg


def cmd_gen(a):
    cfg = dict(CONFIGS[a.config], hidden_act="gelu", layer_norm_eps=1e-12, model_type="bert",
               architectures=["BertModel"])
    os.makedirs(a.dir, exist_ok=True)
    m = build(cfg, a.seed)
    save_safetensors(os.path.join(a.dir, "model.safetensors"), m.state_dict())
    with open(os.path.join(a.dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    g = torch.Generator().manual_seed(a.seed + 1)
    ids = torch.randint(0, cfg["vocab_size"], (2, 16), generator=g)
    with torch.inference_mode():
        h = m(ids)
    ids.to(torch.int32).numpy().tofile(os.path.join(a.dir, "check_ids.bin"))
    h.to(torch.float32).numpy().tofile(os.path.join(a.dir, "check_hidden.bin"))
    print(json.dumps({"dir": a.dir, "config": a.config, "params": sum(p.numel() for p in m.parameters())}))


def cmd_export(a):
    m, cfg = load_model(a.dir)
    ids = torch.randint(0, cfg["vocab_size"], (2, 16))
    torch.onnx.export(m, (ids,), os.path.join(a.dir, "model.onnx"), input_names=["input_ids"],
                      output_names=["hidden"], dynamic_axes={"input_ids": {0: "batch", 1: "seq"},
                                                            "hidden": {0: "batch", 1: "seq"}},
                      opset_version=14, do_constant_folding=True)
    print(json.dumps({"onnx": os.path.join(a.dir, "model.onnx")}))


def cmd_torch(a):
    torch.set_num_threads(a.threads)
    m, cfg = load_model(a.dir)
    g = torch.Generator().manual_seed(7)
    for shape in a.shapes.split(","):
        b, t = (int(v) for v in shape.split("x"))
        ids = torch.randint(0, cfg["vocab_size"], (b, t), generator=g)
        with torch.inference_mode():
            m(ids)  # warm-up
            # fastest single forward over >= 5 runs and min_time seconds (as ours and ORT)
            clock = time.process_time if a.cpu_time else time.perf_counter
            best, n, t_end = float("inf"), 0, time.perf_counter() + a.min_time
            while n < 5 or time.perf_counter() < t_end:
                t0 = clock()
                m(ids)
                best = min(best, clock() - t0)
                n += 1
        print(json.dumps({"peer": "torch", "version": torch.__version__, "threads": torch.get_num_threads(),
                          "clock": "cpu" if a.cpu_time else "wall", "batch": b, "seq": t, "sec": best}), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    s = p.add_subparsers(dest="cmd", required=True)
    g = s.add_parser("gen")
    g.add_argument("dir")
    g.add_argument("--config", choices=sorted(CONFIGS), required=True)
    g.add_argument("--seed", type=int, default=1234)
    e = s.add_parser("export")
    e.add_argument("dir")
    t = s.add_parser("torch")
    t.add_argument("dir")
    t.add_argument("--shapes", required=True)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--min-time", type=float, default=1.0)
    t.add_argument("--cpu-time", action="store_true", help="time by process CPU time (all threads)")
    a = p.parse_args()
    {"gen": cmd_gen, "export": cmd_export, "torch": cmd_torch}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
