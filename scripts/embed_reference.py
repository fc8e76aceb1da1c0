#!/usr/bin/env python3
"""Independent reference sentence embeddings for BERT-style sentence-transformers models.

Why this exists: the Rust engine's embeddings need checking against something that
shares none of its code. This script re-implements the sentence-transformers
pipeline (tokenize -> BERT encoder -> pooling -> optional normalise) in plain numpy,
driven only by the files in the model directory, so it needs no torch and no
sentence-transformers, and never touches a model hub.

Requirements: numpy, tokenizers, safetensors  (e.g. a throwaway venv)
Usage: python scripts/embed_reference.py MODEL_DIR "text one" "text two" ...
       add --check-batch to also verify padded-batch == one-at-a-time (to 1e-5).
"""
import json
import math
import os
import sys

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer


def load_json(model_dir, *parts, default=None):
    path = os.path.join(model_dir, *parts)
    if not os.path.exists(path):
        return default
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class Model:
    def __init__(self, model_dir):
        self.cfg = load_json(model_dir, "config.json")
        st_cfg = load_json(model_dir, "sentence_bert_config.json", default={})
        # sentence-transformers overrides whatever truncation/padding is baked into
        # tokenizer.json (often 128 / fixed-length): it truncates to max_seq_length
        # and pads to the longest text in the batch. Mirror that exactly.
        self.max_len = min(st_cfg.get("max_seq_length", 512),
                           self.cfg["max_position_embeddings"])
        self.tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
        self.tok.no_padding()
        self.tok.enable_truncation(max_length=self.max_len)

        w = load_file(os.path.join(model_dir, "model.safetensors"))
        # Checkpoints exported from BertModel have bare names; ones exported from
        # task heads (BertForMaskedLM etc.) carry a "bert." prefix. Accept both.
        self.w = {(k[5:] if k.startswith("bert.") else k): v.astype(np.float32)
                  for k, v in w.items()}

        self.pool = load_json(model_dir, "1_Pooling", "config.json",
                              default={"pooling_mode_mean_tokens": True})
        modules = load_json(model_dir, "modules.json", default=[])
        self.normalize = any(m.get("type", "").endswith("Normalize") for m in modules)

    def layer_norm(self, x, prefix):
        # Population variance and eps inside the sqrt, as torch.nn.LayerNorm.
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        y = (x - mu) / np.sqrt(var + self.cfg["layer_norm_eps"])
        return y * self.w[prefix + ".weight"] + self.w[prefix + ".bias"]

    def dense(self, x, prefix):
        # torch Linear stores weight as (out, in), hence the transpose.
        return x @ self.w[prefix + ".weight"].T + self.w[prefix + ".bias"]

    @staticmethod
    def gelu(x):
        # HF "gelu" is the exact erf form, not the tanh approximation ("gelu_new").
        erf = np.vectorize(math.erf, otypes=[np.float64])
        return (0.5 * x * (1.0 + erf(x.astype(np.float64) / math.sqrt(2.0)))).astype(np.float32)

    def tokenize(self, texts):
        encs = self.tok.encode_batch(texts)
        n = max(len(e.ids) for e in encs)
        ids = np.zeros((len(texts), n), np.int64)       # pad id 0 = [PAD]
        types = np.zeros((len(texts), n), np.int64)
        mask = np.zeros((len(texts), n), np.float32)
        for i, e in enumerate(encs):
            ids[i, :len(e.ids)] = e.ids
            types[i, :len(e.ids)] = e.type_ids
            mask[i, :len(e.ids)] = 1.0
        return encs, ids, types, mask

    def encode(self, texts):
        assert self.cfg.get("hidden_act", "gelu") == "gelu", "only exact-erf gelu implemented"
        assert self.cfg.get("position_embedding_type", "absolute") == "absolute"
        encs, ids, types, mask = self.tokenize(texts)
        b, n = ids.shape
        H = self.cfg["hidden_size"]
        nh = self.cfg["num_attention_heads"]
        hd = H // nh
        w = self.w

        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][np.arange(n)][None]
             + w["embeddings.token_type_embeddings.weight"][types])
        x = self.layer_norm(x, "embeddings.LayerNorm")

        # Additive mask: padded keys get a huge negative score so softmax gives them ~0
        # weight; HF uses the dtype minimum, any large value gives the same result.
        bias = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]

        def heads(t):  # (b, n, H) -> (b, nh, n, hd)
            return t.reshape(b, n, nh, hd).transpose(0, 2, 1, 3)

        for L in range(self.cfg["num_hidden_layers"]):
            p = f"encoder.layer.{L}"
            q = heads(self.dense(x, p + ".attention.self.query"))
            k = heads(self.dense(x, p + ".attention.self.key"))
            v = heads(self.dense(x, p + ".attention.self.value"))
            s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd) + bias
            s = s - s.max(-1, keepdims=True)          # stable softmax
            a = np.exp(s)
            a = a / a.sum(-1, keepdims=True)
            ctx = (a @ v).transpose(0, 2, 1, 3).reshape(b, n, H)
            # Post-LN BERT: residual add, then LayerNorm, after each sub-block.
            x = self.layer_norm(self.dense(ctx, p + ".attention.output.dense") + x,
                                p + ".attention.output.LayerNorm")
            h = self.gelu(self.dense(x, p + ".intermediate.dense"))
            x = self.layer_norm(self.dense(h, p + ".output.dense") + x,
                                p + ".output.LayerNorm")

        m = mask[:, :, None]
        parts = []
        # sentence-transformers concatenates every enabled pooling mode, in this order.
        if self.pool.get("pooling_mode_cls_token"):
            parts.append(x[:, 0])
        if self.pool.get("pooling_mode_mean_tokens"):
            parts.append((x * m).sum(1) / np.maximum(m.sum(1), 1e-9))
        if self.pool.get("pooling_mode_max_tokens"):
            parts.append(np.where(m > 0, x, -1e9).max(1))
        if self.pool.get("pooling_mode_mean_sqrt_len_tokens"):
            parts.append((x * m).sum(1) / np.sqrt(np.maximum(m.sum(1), 1e-9)))
        if not parts:
            sys.exit("unsupported pooling config: %r" % self.pool)
        e = np.concatenate(parts, -1)
        if self.normalize:
            # Normalize module: F.normalize(p=2) with eps 1e-12.
            e = e / np.maximum(np.linalg.norm(e, axis=-1, keepdims=True), 1e-12)
        return encs, e


def main():
    args = sys.argv[1:]
    check = "--check-batch" in args
    args = [a for a in args if a != "--check-batch"]
    if len(args) < 2:
        sys.exit(__doc__)
    model = Model(args[0])
    texts = args[1:]
    encs, emb = model.encode(texts)

    for t, e, v in zip(texts, encs, emb):
        print(f"text: {t}")
        print(f"  tokens: {len(e.ids)}  ids: {e.ids}")
        print("  first8: " + " ".join(f"{c:.6f}" for c in v[:8]))
        print(f"  norm: {np.linalg.norm(v):.6f}")

    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    cos = (emb / norms) @ (emb / norms).T
    print("cosine matrix:")
    for row in cos:
        print("  " + " ".join(f"{c:.6f}" for c in row))

    if check:
        # Padding must not leak into results: each text run alone (no padding)
        # must match its row in the padded batch.
        worst = max(float(np.abs(model.encode([t])[1][0] - emb[i]).max())
                    for i, t in enumerate(texts))
        print(f"batch-vs-single max abs diff: {worst:.3e} -> {'OK' if worst < 1e-5 else 'MISMATCH'}")


if __name__ == "__main__":
    main()
