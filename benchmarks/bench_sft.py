"""SFT throughput, packed vs padded, on the same conversations; prints one JSON object.

Padded is one conversation per row, padded to the batch's longest (what trl's default collator does); packed puts
several conversations in each row by best fit, with the block-diagonal mask. Both run the same training step
(CPU kernels, the SFT objective, AdamW) over the same epoch of the demo dialogues (Alpaca + KdConv, tokenized by
the real `dataprep tokenizer` / `dataprep tokenize` code), so the gain is tokens/s of real (non-padding) tokens.

1. In-process: timed steps, no Ray.
2. End to end (unless --no-end-to-end): `training sft` on a local Ray for each mode; tokens/s from its metrics,
   Ray's fixed start-up (launch to the first step) reported separately.

    python benchmarks/bench_sft.py [--threads 2] [--seq-len 512] [--batches 24] [--e2e-steps 30]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.training.token_data: the real dataprep code, in-process

from tests.training.token_data import ingest_chat, tokenize, train_tokenizer  # noqa: E402
from training.checkpoint import save_checkpoint  # noqa: E402
from training.config import TrainConfig  # noqa: E402
from training.cpu_kernels import use_cpu_kernels  # noqa: E402
from training.engine import accumulate_gradients  # noqa: E402
from training.model import GPT, model_config, padded_vocab  # noqa: E402
from training.objectives import make_objective  # noqa: E402
from training.optim import build_optimizer, build_scheduler  # noqa: E402

DIALOGUES = [ROOT / "data/demo/dialogue/alpaca_en_demo.json", ROOT / "data/demo/dialogue/kdconv_zh_messages30.jsonl"]


def build_data(workdir: Path, vocab: int) -> tuple[str, str]:
    dialogues = ingest_chat(DIALOGUES, workdir / "dialogues", "dialogue")
    model = train_tokenizer([dialogues], workdir / "tok", vocab)
    return tokenize(dialogues, model, workdir / "tokens"), model


def in_process(data: str, seq_len: int, batch_size: int, batches: int, packing: bool) -> dict:
    cfg = TrainConfig(objective="sft", data=data, seq_len=seq_len, batch_size=batch_size, val_fraction=0.0,
                      packing=packing, seed=0)
    objective = make_objective(cfg)
    source = objective.open_data(cfg, None)
    loader = source.loader(0, 1)
    torch.manual_seed(0)
    model = use_cpu_kernels(GPT(model_config("tiny", padded_vocab(source.tokenizer.vocab_size), seq_len)))
    optimizer = build_optimizer(model, cfg, torch.device("cpu"))
    real = positions = learned = 0
    elapsed = 0.0
    n = min(batches, loader.batches_in(0))
    for i in range(n + 1):
        batch = loader.next_batch()
        start = time.perf_counter()
        accumulate_gradients(model, objective, [batch])
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if i == 0:
            continue  # warm-up
        elapsed += time.perf_counter() - start
        real += batch.num_tokens
        positions += batch.inputs.numel()
        learned += int((batch.targets != -100).sum())
    return {
        "rows_per_epoch": len(loader.plan(0)),
        "timed_batches": n,
        "real_tokens": real,
        "padding_share": round(1 - real / positions, 4),
        "tokens_per_s": round(real / elapsed),
        "learned_tokens_per_s": round(learned / elapsed),
    }


def init_checkpoint(workdir: Path, data: str, tokenizer: str, seq_len: int) -> Path:
    from dataprep.dataset import open_dataset
    from training.shards import tokenizer_info

    info = tokenizer_info(open_dataset(data))
    torch.manual_seed(0)
    model = GPT(model_config("tiny", padded_vocab(info.vocab_size), seq_len))
    cfg = TrainConfig(seq_len=seq_len)
    optimizer = build_optimizer(model, cfg, torch.device("cpu"))
    state = {"step": 0, "tokens": 0, "world_size": 1, "tokenizer": info.to_dict(), "config": cfg.model_dump()}
    return save_checkpoint(workdir / "init", model, optimizer, build_scheduler(optimizer, cfg), state,
                           tokenizer=Path(tokenizer).read_bytes())


def end_to_end(workdir: Path, data: str, init: Path, seq_len: int, batch_size: int, steps: int, packing: bool,
               threads: int) -> dict:
    run = workdir / f"run-{'packed' if packing else 'padded'}"
    sets = {"seq_len": seq_len, "batch_size": batch_size, "steps": steps, "packing": str(packing).lower(),
            "val_fraction": 0.0, "eval_at_start": "false", "log_every": 1, "checkpoint_every": steps,
            "cpus_per_worker": threads, "warmup_steps": 2}
    cmd = [sys.executable, "-m", "training.cli", "sft", "--data", data, "--init", str(init), "-o", str(run)]
    for k, v in sets.items():
        cmd += ["--set", f"{k}={v}"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    start = time.time()
    subprocess.run(cmd, check=True, env=env, capture_output=True, text=True)
    total = time.time() - start
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    first = json.loads((run / "events.jsonl").read_text().splitlines()[0])["time"]
    rates = sorted(m["tokens_per_s"] for m in metrics[1:] if "tokens_per_s" in m)  # step 1 includes warm-up
    return {
        "steps": steps,
        "tokens": metrics[-1]["tokens"],
        "median_step_tokens_per_s": round(rates[len(rates) // 2]),
        "wall_s": round(total, 1),
        "ray_startup_s": round(first - start, 1),  # launch to the worker's first event: Ray + Ray Train start-up
        "marginal_tokens_per_s": round(metrics[-1]["tokens"] / max(1e-9, metrics[-1]["elapsed_s"])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=8, help="rows per step")
    parser.add_argument("--batches", type=int, default=24, help="timed steps per mode, in-process")
    parser.add_argument("--vocab", type=int, default=4000)
    parser.add_argument("--e2e-steps", type=int, default=30)
    parser.add_argument("--no-end-to-end", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        data, tokenizer = build_data(workdir, args.vocab)
        result = {"machine": {"cpu": platform.processor() or platform.machine(), "threads": args.threads,
                              "torch": torch.__version__},
                  "setup": {"seq_len": args.seq_len, "rows_per_step": args.batch_size, "model": "tiny",
                            "data": "demo dialogues (Alpaca en 999 + KdConv zh 30)"}}
        modes = {"packed": True, "padded": False}
        inproc = {name: in_process(data, args.seq_len, args.batch_size, args.batches, p) for name, p in modes.items()}
        inproc["packing_speedup"] = round(inproc["packed"]["tokens_per_s"] / inproc["padded"]["tokens_per_s"], 2)
        result["in_process"] = inproc
        if not args.no_end_to_end:
            init = init_checkpoint(workdir, data, tokenizer, args.seq_len)
            e2e = {name: end_to_end(workdir, data, init, args.seq_len, args.batch_size, args.e2e_steps, p,
                                    args.threads) for name, p in modes.items()}
            e2e["packing_speedup"] = round(e2e["packed"]["marginal_tokens_per_s"]
                                           / e2e["padded"]["marginal_tokens_per_s"], 2)
            result["end_to_end"] = e2e
    print(json.dumps(result))


if __name__ == "__main__":
    main()
