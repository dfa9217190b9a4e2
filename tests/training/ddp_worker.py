"""One rank of an in-process torch.distributed (gloo, loopback only) DDP step, for the grad-accumulation test."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def ddp_step(rank: int, world: int, init_file: str, state: dict, batches: list, out_dir: str) -> None:
    """Build the model from `state`, wrap it in DDP, run training.engine's step on this rank's batches, and save
    the (all-reduced) gradients to out_dir/grads-RANK.pt."""
    os.environ["GLOO_SOCKET_IFNAME"] = "lo"  # the loopback interface, never a real network
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        from torch.nn.parallel import DistributedDataParallel

        from training.config import TrainConfig
        from training.engine import accumulate_gradients
        from training.model import GPT, GPTConfig
        from training.objectives import make_objective

        model = GPT(GPTConfig.from_dict(state["config"]))
        model.load_state_dict(state["weights"])
        ddp = DistributedDataParallel(model)
        accumulate_gradients(ddp, make_objective(TrainConfig()), batches[rank], world)
        torch.save({n: p.grad for n, p in model.named_parameters()}, os.path.join(out_dir, f"grads-{rank}.pt"))
    finally:
        dist.destroy_process_group()
