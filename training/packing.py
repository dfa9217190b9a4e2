"""Conversations for fine-tuning: truncation at turn boundaries, a seeded best-fit packing plan, packed batches.

A conversation of L tokens is L - 1 (input, target) positions: inputs t[:-1], targets t[1:], a target learned
where the loss mask is 1 (assistant content and its <|end|>). Packing puts several conversations in one row of
at most `seq_len` positions without cropping any; the model sees them through a block-diagonal causal mask with
positions restarting at each conversation, so packing changes nothing but speed.

The plan for epoch e is a pure function of (lengths, seq_len, seed, e): the conversations in a permutation
seeded by (seed, e), packed best-fit-decreasing within consecutive chunks of that order, the rows then shuffled
by the same generator. A loader's position is (epoch, batch): resuming is an index skip, as for pretraining.
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import torch

from dataprep.errors import UserError
from training.cpu_kernels import IGNORE_INDEX
from training.batch import Batch
from training.rows import TokenRows

PACK_CHUNK = 4096  # conversations packed together: bounds the open rows, keeps best-fit O(n log n)


@dataclass
class Conversations:
    """The usable conversations of a dialogues dataset at one seq_len: row, kept tokens, learned targets."""

    rows: np.ndarray  # int64 row in TokenRows
    keep: np.ndarray  # int64 tokens kept (the head of the conversation); positions = keep - 1
    trained: np.ndarray  # int64 targets with mask 1 among the kept positions
    truncated: int = 0
    dropped: Counter = field(default_factory=Counter)

    @property
    def positions(self) -> np.ndarray:
        return self.keep - 1

    def __len__(self) -> int:
        return len(self.rows)

    def subset(self, index: np.ndarray | slice) -> "Conversations":
        return Conversations(self.rows[index], self.keep[index], self.trained[index])

    def summary(self, prefix: str) -> dict:
        return {f"{prefix}_examples": len(self), f"{prefix}_truncated": self.truncated,
                f"{prefix}_dropped": sum(self.dropped.values()), f"{prefix}_dropped_reasons": dict(self.dropped)}


def turn_ends(mask: np.ndarray) -> np.ndarray:
    """Indices where a learned span ends: the <|end|> closing each assistant turn."""
    m = mask.astype(bool)
    nxt = np.zeros_like(m)
    nxt[:-1] = m[1:]
    return np.flatnonzero(m & ~nxt)


def conversations(rows: TokenRows, seq_len: int, tokens: str = "tokens", mask: str = "loss_mask") -> Conversations:
    """Every conversation that fits in `seq_len` positions whole; a longer one keeps its head up to the last
    assistant turn that fits (counted as truncated); one with no learned target left is dropped with a reason."""
    length = rows.lengths(tokens)
    trained = rows.mask_sums(mask)
    keep = length.copy()
    dropped: Counter = Counter()
    ok = trained > 0
    dropped["no assistant token"] = int((~ok).sum())
    long = np.flatnonzero(ok & (length - 1 > seq_len))
    truncated = 0
    for i in long:
        m = rows.row(mask, int(i))
        ends = turn_ends(m)
        ends = ends[(ends >= 1) & (ends <= seq_len)]  # a turn ending at index e needs e positions
        if not len(ends):
            ok[i] = False
            dropped["no complete assistant turn within seq_len"] += 1
            continue
        keep[i] = ends[-1] + 1
        trained[i] = int(m[1 : keep[i]].sum())
        truncated += 1
    index = np.flatnonzero(ok)
    return Conversations(index.astype(np.int64), keep[index].astype(np.int64), trained[index].astype(np.int64),
                         truncated, Counter({k: v for k, v in dropped.items() if v}))


def split_held_out(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and held-out indices, each in order: a seeded random `val_fraction` is held out (at least one when
    the fraction is positive). Random, not the tail: dialogue datasets are often ordered by source."""
    n_val = int(round(n * val_fraction))
    if val_fraction > 0:
        n_val = max(1, n_val)
    n_val = min(n_val, n)
    held = np.zeros(n, dtype=bool)
    held[np.random.default_rng([seed, 0x5EED]).permutation(n)[:n_val]] = True
    return np.flatnonzero(~held), np.flatnonzero(held)


def best_fit(lengths: np.ndarray, capacity: int) -> list[list[int]]:
    """Best-fit decreasing: each item, longest first, into the open row with the least room that fits it."""
    rows: list[list[int]] = []
    room: list[tuple[int, int]] = []  # sorted (space left, row)
    for item in np.argsort(-lengths, kind="stable"):
        size = int(lengths[item])
        j = bisect.bisect_left(room, (size, -1))
        if j < len(room):
            space, r = room.pop(j)
            rows[r].append(int(item))
            space -= size
        else:
            r, space = len(rows), capacity - size
            rows.append([int(item)])
        if space > 0:
            bisect.insort(room, (space, r))
    return rows


@dataclass
class Plan:
    """Rows of items (indices into the loader's items), as flat arrays."""

    offsets: np.ndarray  # int64 (rows + 1)
    items: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def row(self, r: int) -> np.ndarray:
        return self.items[self.offsets[r] : self.offsets[r + 1]]

    @classmethod
    def from_rows(cls, rows: list) -> "Plan":
        sizes = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        items = np.concatenate([np.asarray(r, dtype=np.int64) for r in rows]) if rows else np.zeros(0, np.int64)
        return cls(offsets, items)


def pack(lengths: np.ndarray, capacity: int, order: np.ndarray, rng: Optional[np.random.Generator]) -> Plan:
    """Best-fit rows over `order`, chunk by chunk; the rows shuffled by `rng` (kept in order without one)."""
    rows: list[list[int]] = []
    for start in range(0, len(order), PACK_CHUNK):
        chunk = order[start : start + PACK_CHUNK]
        rows += [[int(chunk[i]) for i in row] for row in best_fit(lengths[chunk], capacity)]
    if rng is not None:
        rows = [rows[i] for i in rng.permutation(len(rows))]
    return Plan.from_rows(rows)


def epoch_plan(lengths: np.ndarray, capacity: int, seed: int, epoch: int, packing: bool) -> Plan:
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    if not packing:
        return Plan(np.arange(len(order) + 1, dtype=np.int64), order.astype(np.int64))
    return pack(lengths, capacity, order, rng)


def eval_plan(lengths: np.ndarray, capacity: int, packing: bool) -> Plan:
    """The held-out rows: the same every evaluation, in order."""
    order = np.arange(len(lengths))
    if not packing:
        return Plan(np.arange(len(order) + 1, dtype=np.int64), order.astype(np.int64))
    return pack(lengths, capacity, order, None)


class PlanLoader:
    """Batches of plan rows: global batch b of an epoch takes the next `batch_size * world` rows of that epoch's
    plan, rank r the r-th block of `batch_size`. State: (epoch, batch), like the window loader."""

    def __init__(
        self,
        plan_of_epoch: Callable[[int], Plan],
        collate: Callable[[list[np.ndarray]], Batch],
        batch_size: int,
        rank: int,
        world: int,
        identity: dict,
        what: str,
    ):
        self.plan_of_epoch, self.collate = plan_of_epoch, collate
        self.batch_size, self.rank, self.world = batch_size, rank, world
        self.identity = {**identity, "batch_size": batch_size, "world_size": world}
        self.epoch, self.batch = 0, 0
        self._plan_epoch, self._plan = -1, None
        if self.batches_in(0) == 0:
            raise UserError(
                f"the data makes {len(self.plan(0))} training {what}, fewer than one global batch "
                f"({batch_size} x {world} workers); use more data or a smaller batch_size"
            )

    def plan(self, epoch: int) -> Plan:
        if epoch != self._plan_epoch:
            self._plan, self._plan_epoch = self.plan_of_epoch(epoch), epoch
        return self._plan

    def batches_in(self, epoch: int) -> int:
        return len(self.plan(epoch)) // (self.batch_size * self.world)

    def row_ids(self, epoch: int, batch: int) -> list[int]:
        first = (batch * self.world + self.rank) * self.batch_size
        return list(range(first, first + self.batch_size))

    def next_ids(self) -> list[int]:
        return self.row_ids(self.epoch, self.batch)

    def next_batch(self) -> Batch:
        plan = self.plan(self.epoch)
        batch = self.collate([plan.row(r) for r in self.row_ids(self.epoch, self.batch)])
        self.batch += 1
        if self.batch == self.batches_in(self.epoch):
            self.epoch, self.batch = self.epoch + 1, 0
        return batch

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "batch": self.batch, **self.identity}

    def load_state_dict(self, state: dict) -> None:
        for key, value in self.identity.items():
            if state.get(key) != value:
                what = "the data" if key == "fingerprint" else key
                raise UserError(
                    f"cannot resume: the checkpoint's loader has {key}={state.get(key)!r} but this run has {value!r} "
                    f"({what} changed); resume with the original settings or start a new run folder"
                )
        self.epoch, self.batch = int(state["epoch"]), int(state["batch"])


def eval_rows(plan: Plan, collate, batch_size: int, rank: int, world: int, max_batches: Optional[int]):
    """Held-out plan rows dealt round-robin to ranks, in batches."""
    mine = list(range(len(plan)))[rank::world]
    n = (len(mine) + batch_size - 1) // batch_size
    for b in range(n if max_batches is None else min(n, max_batches)):
        yield collate([plan.row(r) for r in mine[b * batch_size : (b + 1) * batch_size]])


class ConversationCollator:
    """Plan rows of conversations -> one Batch, padded to its longest row.

    Packed: positions restart and `doc_ids` number the conversations of a row (padding gets -1, a document of
    its own, so no query is left without a key). Unpacked: one conversation per row, plain causal attention.
    The learned targets are counted twice, from the plan and from the built tensors, and must agree: a mask
    lost in packing or truncation stops training here.
    """

    def __init__(self, rows: TokenRows, conv: Conversations, packing: bool, pad_id: int):
        self.rows, self.conv, self.packing, self.pad_id = rows, conv, packing, pad_id

    def __call__(self, plan_rows: list[np.ndarray]) -> Batch:
        conv = self.conv
        width = max(int(conv.positions[r].sum()) for r in plan_rows)
        B = len(plan_rows)
        inputs = np.full((B, width), self.pad_id, dtype=np.int64)
        targets = np.full((B, width), IGNORE_INDEX, dtype=np.int64)
        positions = np.zeros((B, width), dtype=np.int64)
        doc_ids = np.full((B, width), -1, dtype=np.int64)
        expected, real = 0, 0
        for b, items in enumerate(plan_rows):
            at = 0
            for k, c in enumerate(items):
                row, keep = int(conv.rows[c]), int(conv.keep[c])
                tokens = self.rows.row("tokens", row)[:keep].astype(np.int64)  # uint16 cannot hold IGNORE_INDEX
                mask = self.rows.row("loss_mask", row)[:keep]
                n = keep - 1
                inputs[b, at : at + n] = tokens[:-1]
                targets[b, at : at + n] = np.where(mask[1:] != 0, tokens[1:], IGNORE_INDEX)
                positions[b, at : at + n] = np.arange(n)
                doc_ids[b, at : at + n] = k
                at += n
                expected += int(conv.trained[c])
            real += at
        learned = int((targets != IGNORE_INDEX).sum())
        if learned != expected:
            raise RuntimeError(f"loss mask lost in packing: {learned} learned targets, the plan says {expected}")
        if not self.packing:
            return Batch(torch.from_numpy(inputs), torch.from_numpy(targets), num_tokens=real)
        return Batch(torch.from_numpy(inputs), torch.from_numpy(targets), torch.from_numpy(positions),
                     torch.from_numpy(doc_ids), num_tokens=real)
