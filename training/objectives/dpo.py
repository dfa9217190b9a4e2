"""Preference tuning: DPO's sigmoid loss against a frozen reference model (Rafailov et al., 2023).

For a pair (prompt, chosen, rejected) the policy's and the reference's log-probabilities of each response give
rewards r = beta * (log pi - log pi_ref); the loss is -log sigmoid(r_chosen - r_rejected). At the start the
policy is the reference, so every reward is 0 and the loss is ln 2: the start-up check.

The reference is the --init checkpoint, frozen; or, with `precompute_ref: true`, its log-probabilities are
computed once over every pair, stored in RUN/ref_logps/ with the data's hash, and the reference model is freed.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from dataprep.errors import UserError
from training.cpu_kernels import IGNORE_INDEX
from training.batch import Batch
from training.objectives.base import Output, RunContext, token_losses
from training.packing import Plan, PlanLoader, eval_rows, split_held_out
from training.rows import TokenRows, open_token_rows

REF_DIR = "ref_logps"
SIDES = (("tokens", "loss_mask"), ("rejected_tokens", "rejected_loss_mask"))


@dataclass
class Pairs:
    rows: np.ndarray  # int64 row in TokenRows
    keep: np.ndarray  # int64 (n, 2): tokens kept of the chosen and the rejected sequence
    truncated: int = 0
    dropped: Counter = field(default_factory=Counter)

    def __len__(self) -> int:
        return len(self.rows)

    def subset(self, index) -> "Pairs":
        return Pairs(self.rows[index], self.keep[index])

    def summary(self) -> dict:
        return {"dpo_pairs": len(self), "dpo_truncated": self.truncated, "dpo_dropped": sum(self.dropped.values()),
                "dpo_dropped_reasons": dict(self.dropped)}


def preference_pairs(rows: TokenRows, seq_len: int) -> Pairs:
    """Pairs whose sequences fit in seq_len + 1 tokens; a longer sequence keeps its head (the prompt and the start
    of the response: counted as truncated); a pair with no response token left on either side is dropped."""
    keep = np.stack([np.minimum(rows.lengths(t), seq_len + 1) for t, _ in SIDES], axis=1).astype(np.int64)
    trained = np.stack([rows.mask_sums(m) for _, m in SIDES], axis=1)
    cut = np.flatnonzero((keep < np.stack([rows.lengths(t) for t, _ in SIDES], axis=1)).any(axis=1))
    for i in cut:
        for s, (_, m) in enumerate(SIDES):
            trained[i, s] = int(rows.row(m, int(i))[1 : keep[i, s]].sum())
    ok = (trained > 0).all(axis=1)
    dropped = Counter()
    whole_empty = (np.stack([rows.mask_sums(m) for _, m in SIDES], axis=1) == 0).any(axis=1)
    dropped["no response token"] = int(whole_empty.sum())
    dropped["no response token within seq_len"] = int((~ok & ~whole_empty).sum())
    index = np.flatnonzero(ok)
    truncated = int(np.isin(cut, index).sum())
    return Pairs(index.astype(np.int64), keep[index], truncated, Counter({k: v for k, v in dropped.items() if v}))


class PairCollator:
    """P pairs -> 2P rows (the chosen sequences, then the rejected ones), padded to the longest."""

    def __init__(self, rows: TokenRows, pairs: Pairs, pad_id: int, id_offset: int = 0):
        self.rows, self.pairs, self.pad_id, self.id_offset = rows, pairs, pad_id, id_offset

    def __call__(self, plan_rows: list[np.ndarray]) -> Batch:
        ids = np.concatenate(plan_rows).astype(np.int64)
        P = len(ids)
        width = int(self.pairs.keep[ids].max()) - 1
        inputs = np.full((2 * P, width), self.pad_id, dtype=np.int64)
        targets = np.full((2 * P, width), IGNORE_INDEX, dtype=np.int64)
        real = 0
        for s, (tok, msk) in enumerate(SIDES):
            for j, p in enumerate(ids):
                row, keep = int(self.pairs.rows[p]), int(self.pairs.keep[p, s])
                tokens = self.rows.row(tok, row)[:keep].astype(np.int64)  # uint16 cannot hold IGNORE_INDEX
                mask = self.rows.row(msk, row)[:keep]
                inputs[s * P + j, : keep - 1] = tokens[:-1]
                targets[s * P + j, : keep - 1] = np.where(mask[1:] != 0, tokens[1:], IGNORE_INDEX)
                real += keep - 1
        return Batch(torch.from_numpy(inputs), torch.from_numpy(targets), num_tokens=real,
                     extra={"pair_ids": torch.from_numpy(ids + self.id_offset)})


def sequence_logps(model, batch: Batch) -> torch.Tensor:
    """Each row's summed log-probability of its learned targets (the response tokens)."""
    return -token_losses(model, batch).sum(dim=-1)


class DirectPreference:
    name = "dpo"
    unit = "pairs"
    layouts = ("preferences",)
    metric_names = ("reward_margin", "reward_accuracy", "rewards_chosen", "rewards_rejected", "logps_chosen",
                    "logps_rejected")

    def __init__(self, cfg):
        self.cfg = cfg
        self.beta = cfg.beta
        self.reference: Optional[torch.nn.Module] = None
        self.table: Optional[torch.Tensor] = None  # (pairs, 2) precomputed reference log-probs

    def count(self, batch: Batch) -> torch.Tensor:
        return torch.tensor(batch.inputs.shape[0] // 2, device=batch.inputs.device)

    def reference_logps(self, batch: Batch) -> torch.Tensor:
        if self.table is not None:
            ref = self.table[batch.extra["pair_ids"]]
            return torch.cat([ref[:, 0], ref[:, 1]])
        if self.reference is None:
            raise RuntimeError("DPO needs prepare() first: no reference model and no precomputed log-probs")
        with torch.no_grad():
            return sequence_logps(self.reference, batch)

    def __call__(self, model, batch: Batch) -> Output:
        P = batch.inputs.shape[0] // 2
        logps = sequence_logps(model, batch)
        ref = self.reference_logps(batch).to(logps.dtype)
        chosen = self.beta * (logps[:P] - ref[:P])
        rejected = self.beta * (logps[P:] - ref[P:])
        margin = chosen - rejected
        losses = -F.logsigmoid(margin)
        d = {"reward_margin": margin, "reward_accuracy": (margin > 0).to(margin.dtype), "rewards_chosen": chosen,
             "rewards_rejected": rejected, "logps_chosen": logps[:P], "logps_rejected": logps[P:]}
        return Output(losses.sum(), self.count(batch), {k: v.detach().sum() for k, v in d.items()})

    @staticmethod
    def health(metrics: dict) -> dict:
        """The start-up check on the first step's metrics: the policy is the reference, so loss = ln 2, rewards 0."""
        ok = abs(metrics["loss"] - math.log(2)) < 1e-3 and abs(metrics["rewards_chosen"]) < 1e-4 and abs(
            metrics["rewards_rejected"]) < 1e-4
        return {"step0_loss": metrics["loss"], "ln2": math.log(2), "rewards_chosen": metrics["rewards_chosen"],
                "rewards_rejected": metrics["rewards_rejected"], "ok": ok}

    def open_data(self, cfg, expect_tokenizer: Optional[str]) -> "PairData":
        rows = open_token_rows(cfg.data, self.layouts, self.name, cfg.data_cache, expect_tokenizer)
        pairs = preference_pairs(rows, cfg.seq_len)
        if cfg.val_data:
            val_rows = open_token_rows(cfg.val_data, self.layouts, self.name, cfg.data_cache, expect_tokenizer)
            return PairData(rows, pairs, val_rows, preference_pairs(val_rows, cfg.seq_len), cfg, pairs)
        train, val = split_held_out(len(pairs), cfg.val_fraction, cfg.seed)
        return PairData(rows, pairs.subset(train), rows, pairs.subset(val), cfg, pairs)

    def prepare(self, model, data: "PairData", ctx: RunContext) -> None:
        from training.checkpoint import build_reference

        if ctx.init_dir is None:
            raise UserError("DPO needs a reference: the --init checkpoint")
        if self.cfg.precompute_ref and ctx.run_dir is not None:
            self.table = reference_table(data, lambda: build_reference(ctx.init_dir, ctx.device), ctx,
                                         self.cfg.batch_size)
            return
        self.reference = build_reference(ctx.init_dir, ctx.device)


class PairData:
    def __init__(self, rows: TokenRows, train: Pairs, val_rows: TokenRows, val: Pairs, cfg, counted: Pairs):
        self.rows, self.train, self.val_rows, self.val, self.cfg = rows, train, val_rows, val, cfg
        self.tokenizer = rows.tokenizer
        self.fingerprint = rows.fingerprint
        self.val_fingerprint = val_rows.fingerprint
        self.summary = {**counted.summary(), "train_pairs": len(train), "val_pairs": len(val)}

    @property
    def pad_id(self) -> int:
        pad = self.tokenizer.pad_id
        return int(pad) if pad is not None else int(self.tokenizer.eos_id)

    def loader(self, rank: int, world: int) -> PlanLoader:
        cfg, n = self.cfg, len(self.train)

        def plan(epoch: int) -> Plan:
            order = np.random.default_rng([cfg.seed, epoch]).permutation(n)
            return Plan(np.arange(n + 1, dtype=np.int64), order.astype(np.int64))

        identity = {"seed": cfg.seed, "seq_len": cfg.seq_len, "fingerprint": self.fingerprint, "pairs": n}
        return PlanLoader(plan, PairCollator(self.rows, self.train, self.pad_id), cfg.batch_size, rank, world,
                          identity, "pairs")

    def has_eval(self) -> bool:
        return len(self.val) > 0

    def eval_batches(self, rank: int, world: int, max_batches: Optional[int]) -> Iterator[Batch]:
        n = len(self.val)
        plan = Plan(np.arange(n + 1, dtype=np.int64), np.arange(n, dtype=np.int64))
        collate = PairCollator(self.val_rows, self.val, self.pad_id, id_offset=len(self.train))
        return eval_rows(plan, collate, self.cfg.batch_size, rank, world, max_batches)

    def all_batches(self, rank: int, world: int, batch_size: int) -> Iterator[Batch]:
        """Every pair, train then held-out, dealt to ranks: for precomputing the reference."""
        yield from eval_rows(Plan(np.arange(len(self.train) + 1, dtype=np.int64), np.arange(len(self.train))),
                             PairCollator(self.rows, self.train, self.pad_id), batch_size, rank, world, None)
        yield from self.eval_batches(rank, world, None)

    def identity(self) -> dict:
        return {"data": self.fingerprint, "val_data": self.val_fingerprint, "seq_len": self.cfg.seq_len,
                "val_fraction": None if self.cfg.val_data else self.cfg.val_fraction, "seed": self.cfg.seed,
                "pairs": len(self.train) + len(self.val)}


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(8 << 20):
            digest.update(block)
    return digest.hexdigest()


def reference_table(data: PairData, make_reference, ctx: RunContext, batch_size: int) -> torch.Tensor:
    """RUN/ref_logps/: the reference's log-probs of every pair, computed once (sharded over the ranks) and checked
    against the data's hash and the reference weights on every later start."""
    from training.checkpoint import WEIGHTS

    folder = Path(ctx.run_dir) / REF_DIR
    expected = {**data.identity(), "reference_sha256": file_sha256(Path(ctx.init_dir) / WEIGHTS)}
    if not (folder / "meta.json").is_file():
        reference = make_reference()
        ids, values = [], []
        for batch in data.all_batches(ctx.rank, ctx.world, batch_size):
            batch = batch.to(ctx.device)
            with torch.no_grad():
                logps = sequence_logps(reference, batch).double().cpu()
            P = len(batch.extra["pair_ids"])
            ids.append(batch.extra["pair_ids"].cpu().numpy())
            values.append(torch.stack([logps[:P], logps[P:]], dim=1).numpy())
        del reference
        mine = (np.concatenate(ids) if ids else np.zeros(0, np.int64),
                np.concatenate(values) if values else np.zeros((0, 2)))
        parts = [mine]
        if ctx.world > 1:
            parts = [None] * ctx.world
            dist.all_gather_object(parts, mine)
        if ctx.rank == 0:
            table = np.full((expected["pairs"], 2), np.nan)
            for pid, val in parts:
                table[pid] = val
            _write_table(folder, torch.from_numpy(table), expected)
        if ctx.world > 1:
            dist.barrier()
    meta = json.loads((folder / "meta.json").read_text())
    for key, value in expected.items():
        if meta.get(key) != value:
            raise UserError(
                f"{folder} was computed for other data or another reference ({key} differs); "
                f"delete {folder} or use a new run folder"
            )
    table = load_file(str(folder / "logps.safetensors"))["logps"]
    if torch.isnan(table).any():
        raise UserError(f"{folder} is incomplete (pairs without a log-prob); delete it to recompute")
    return table.to(device=ctx.device, dtype=torch.float32)


def _write_table(folder: Path, table: torch.Tensor, meta: dict) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".ref_logps-", dir=folder.parent))
    save_file({"logps": table.contiguous()}, tmp / "logps.safetensors")
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
