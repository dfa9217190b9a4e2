"""Training speed against peers, from one run; prints one JSON object.

1. Loader: our memory-mapped Arrow window loader vs a nanoGPT-style `np.memmap` random-window loader, on the
   same tokens (written once as nanoGPT's flat uint16 .bin file), both producing int64 (inputs, targets).
2. Training step (forward, backward, AdamW) on CPU in fp32: our model vs a plain GPT-2-style model written
   here (LayerNorm, GELU MLP, learned positions, fused QKV, tied embeddings) of the same size.

    python benchmarks/bench_training.py [--threads 2] [--steps 10]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.training.token_data: the real dataprep code
from tests.training.token_data import split_documents, tokenize, train_tokenizer, write_documents
from training.config import TrainConfig
from training.cpu_kernels import use_cpu_kernels
from training.engine import accumulate_gradients
from training.loader import WindowLoader, num_windows
from training.model import GPT, GPTConfig
from training.objectives import Batch, make_objective
from training.shards import open_token_stream

ROOT = Path(__file__).resolve().parents[1]
CORPORA = [
    ROOT.parent / "shared/corpora/prose/tinyshakespeare_input.txt",
    ROOT.parent / "shared/corpora/prose/wikitext-2_test.txt",
    ROOT.parent / "shared/corpora/prose/llamafactory_wiki_demo.txt",
]
FALLBACK = ROOT / "tests/data/tinyshakespeare_head.txt"


# --- a plain GPT-2 (nanoGPT's shape), the reference for the training-speed comparison -------------------------
class RefBlock(nn.Module):
    def __init__(self, d: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.c_attn, self.c_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.c_fc, self.mlp_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, C)
        x = x + self.c_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))


class RefGPT(nn.Module):
    def __init__(self, vocab: int, d: int, n_layer: int, n_head: int, seq_len: int):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(seq_len, d)
        self.blocks = nn.ModuleList(RefBlock(d, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(d)
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.blocks:
            x = block(x)
        logits = F.linear(self.ln_f(x), self.wte.weight)
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))


# --- data --------------------------------------------------------------------------------------------------
def build_tokens(workdir: Path, vocab: int, copies: int) -> str:
    """The prose corpora tokenized once (the real `dataprep tokenizer` and `tokenize` code, in this process),
    written `copies` times over as shards (a corpus larger than the caches)."""
    import pyarrow as pa

    from dataprep.dataset import open_dataset, write_dataset

    texts = [p.read_text(encoding="utf-8") for p in CORPORA if p.is_file()] or [FALLBACK.read_text(encoding="utf-8")]
    docs = write_documents(workdir / "docs", [d for text in texts for d in split_documents(text)])
    model = train_tokenizer([docs], workdir / "tok", vocab)
    once = open_dataset(tokenize(docs, model, workdir / "tokens-once"))
    table = once.read_shard(0)
    tables = [table.set_column(0, "id", pa.array([f"{c}-{i}" for i in table["id"].to_pylist()])) for c in range(copies)]
    url = str(workdir / "tokens")
    write_dataset(url, "tokens", tables, schema=table.schema, provenance=once.manifest.provenance, compression=None)
    return url


def nanogpt_batches(path: str, n: int, batch: int, seq: int, seed: int):
    """nanoGPT's train.py get_batch: a fresh memmap per batch, random starts, per-row astype, torch.stack."""
    torch.manual_seed(seed)
    for _ in range(n):
        data = np.memmap(path, dtype=np.uint16, mode="r")
        ix = torch.randint(len(data) - seq, (batch,))
        x = torch.stack([torch.from_numpy(data[i : i + seq].astype(np.int64)) for i in ix])
        y = torch.stack([torch.from_numpy(data[i + 1 : i + 1 + seq].astype(np.int64)) for i in ix])
        yield x, y


def bench_loaders(url: str, workdir: Path, batch: int, seq: int, seconds: float) -> dict:
    stream = open_token_stream(url)
    flat = np.empty(stream.num_tokens, dtype=np.int64)
    stream.read(0, flat)
    bin_path = workdir / "train.bin"
    flat.astype(np.uint16).tofile(bin_path)  # the same tokens, as nanoGPT's prepare.py would write them

    def run(make_batches, limit: float) -> float:
        count, start = 0, time.perf_counter()
        for x, y in make_batches():
            count += x.numel()
            if time.perf_counter() - start > limit:
                break
        return count / (time.perf_counter() - start)

    ours_loader = WindowLoader(stream, seq, batch, seed=0)

    def ours():
        while True:
            yield ours_loader.next_batch()

    def memmap():
        return nanogpt_batches(str(bin_path), 10**9, batch, seq, 0)

    # Alternating rounds, best of each: load from other processes cannot favour one loader.
    ours_tps = memmap_tps = 0.0
    for _ in range(3):
        ours_tps = max(ours_tps, run(ours, seconds / 6))
        memmap_tps = max(memmap_tps, run(memmap, seconds / 6))
    return {
        "tokens": stream.num_tokens,
        "windows": num_windows(stream, seq),
        "batch": [batch, seq],
        "ours_tokens_per_s": round(ours_tps),
        "nanogpt_memmap_tokens_per_s": round(memmap_tps),
        "ours_GBps_int64": round(ours_tps * 8 * 2 / 1e9, 3),  # inputs and targets
        "speedup": round(ours_tps / memmap_tps, 2),
    }


def time_training(models: dict[str, nn.Module], vocab: int, batch: int, seq: int, steps: int) -> dict[str, float]:
    """Tokens/s of a full training step (forward, backward, clip, AdamW) for each model.

    Ours runs as training does: CPU kernels swapped in, the language-modelling objective, training.engine's step.
    The models take turns step by step and each keeps its fastest step, so load from other processes on the
    machine cannot favour one of them.
    """
    opts = {name: torch.optim.AdamW(m.parameters(), lr=3e-4, weight_decay=0.1) for name, m in models.items()}
    objective = make_objective(TrainConfig())
    gen = torch.Generator().manual_seed(0)
    best = {name: math.inf for name in models}
    for i in range(steps + 2):  # two warm-up steps
        w = torch.randint(0, vocab, (batch, seq + 1), generator=gen)
        for name, model in models.items():
            start = time.perf_counter()
            if isinstance(model, GPT):
                accumulate_gradients(model, objective, [Batch(w[:, :-1], w[:, 1:])])
            else:
                model(w[:, :-1], w[:, 1:]).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opts[name].step()
            opts[name].zero_grad(set_to_none=True)
            if i >= 2:
                best[name] = min(best[name], time.perf_counter() - start)
    return {name: batch * seq / t for name, t in best.items()}


def bench_training(vocab: int, batch: int, seq: int, d: int, n_layer: int, n_head: int, steps: int) -> dict:
    torch.manual_seed(0)
    # Equal size: with n_kv_head = n_head our block has 4d^2 attention + 3*d*hidden SwiGLU (hidden ~ 8d/3),
    # the GPT-2 block 4d^2 + 8d^2; both tie their embeddings.
    ours = use_cpu_kernels(
        GPT(GPTConfig(vocab_size=vocab, n_layer=n_layer, n_head=n_head, n_kv_head=n_head, d_model=d, max_seq_len=seq)))
    ref = RefGPT(vocab, d, n_layer, n_head, seq)
    ours_gqa = use_cpu_kernels(GPT(GPTConfig(vocab_size=vocab, n_layer=n_layer, n_head=n_head,
                                             n_kv_head=max(1, n_head // 2), d_model=d, max_seq_len=seq)))
    tps = time_training({"ref": ref, "ours": ours, "gqa": ours_gqa}, vocab, batch, seq, steps)
    return {
        "batch": [batch, seq],
        "dims": {"d_model": d, "n_layer": n_layer, "n_head": n_head, "vocab": vocab},
        "ours_params": ours.num_params(),
        "reference_params": sum(p.numel() for p in ref.parameters()),
        "ours_tokens_per_s": round(tps["ours"]),
        "reference_gpt2_tokens_per_s": round(tps["ref"]),
        "ratio": round(tps["ours"] / tps["ref"], 3),
        "ours_gqa_params": ours_gqa.num_params(),
        "ours_gqa_tokens_per_s": round(tps["gqa"]),
        "ours_flops_per_token": ours.flops_per_token(seq),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--steps", type=int, default=8, help="timed training steps per model")
    parser.add_argument("--loader-seconds", type=float, default=6.0)
    parser.add_argument("--copies", type=int, default=40, help="corpus copies for the loader (40: ~50M tokens)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url = build_tokens(workdir, vocab=4096, copies=args.copies)
        loader = bench_loaders(url, workdir, batch=16, seq=1024, seconds=args.loader_seconds)
    # d=384: our SwiGLU hidden (8d/3 = 1024) makes both models the same size to within their biases.
    training = bench_training(vocab=4096, batch=8, seq=256, d=384, n_layer=6, n_head=6, steps=args.steps)
    print(json.dumps({
        "machine": {"cpu": platform.processor() or platform.machine(), "threads": args.threads, "torch": torch.__version__},
        "loader": loader,
        "training_cpu_fp32": training,
    }))


if __name__ == "__main__":
    main()
