"""Run two real training steps of one model on CPU in a fresh process and print, as JSON, the peak RSS above the
process's baseline (after imports, before the model exists) beside training.memory's estimate.

    python -m tests.training.memory_probe SIZE VOCAB BATCH SEQ_LEN
"""

from __future__ import annotations

import json
import sys


def rss(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def main(size: str, vocab: int, batch: int, seq_len: int) -> None:
    import torch

    from training.config import TrainConfig
    from training.cpu_kernels import use_cpu_kernels
    from training.engine import accumulate_gradients
    from training.memory import estimate
    from training.model import GPT, model_config
    from training.objectives import make_objective
    from training.objectives.lm import window_batch
    from training.optim import build_optimizer, build_scheduler

    torch.set_num_threads(1)
    cfg = TrainConfig(model=size, batch_size=batch, seq_len=seq_len)
    m = model_config(size, vocab, seq_len)
    baseline = rss("VmRSS")
    torch.manual_seed(0)
    model = GPT(m)
    use_cpu_kernels(model)
    optimizer = build_optimizer(model, cfg, torch.device("cpu"))
    scheduler = build_scheduler(optimizer, cfg)
    objective = make_objective(cfg)
    for _ in range(2):
        windows = torch.randint(0, vocab, (batch, seq_len + 1))
        accumulate_gradients(model, objective, [window_batch(windows)])
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
    measured = rss("VmHWM") - baseline
    print(json.dumps({"size": size, "measured": measured, "estimate": estimate(cfg, m, "cpu").total}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
