"""Deterministic, resumable windows of `seq_len + 1` tokens over a token stream.

The stream is cut into windows at multiples of `seq_len` (each window also carries the next window's first
token as its last target). Each epoch visits them in a permutation seeded by (seed, epoch); global batch g
takes the next `batch_size * world_size` windows of it, and rank r the r-th block of `batch_size`, so ranks
never overlap. Order is a pure function of (seed, epoch, world size), so the state is just
(epoch, batch): resuming is an index skip (mosaic streaming / llm.c style), not a replay.
"""

from __future__ import annotations

from typing import Iterator, Optional

import numpy as np
import torch

from dataprep.errors import UserError
from training.shards import TokenStream


def num_windows(stream: TokenStream, seq_len: int) -> int:
    return max(0, (stream.num_tokens - 1) // seq_len)


def split_windows(total: int, val_fraction: float) -> tuple[range, range]:
    """Train and held-out window ranges; the held-out windows are the stream's tail, never shuffled in."""
    n_val = int(round(total * val_fraction))
    if val_fraction > 0:
        n_val = max(1, n_val)
    return range(0, total - n_val), range(total - n_val, total)


class WindowLoader:
    def __init__(
        self,
        stream: TokenStream,
        seq_len: int,
        batch_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        windows: Optional[range] = None,
    ):
        self.stream, self.seq_len, self.batch_size = stream, seq_len, batch_size
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.windows = windows if windows is not None else range(num_windows(stream, seq_len))
        self.batches_per_epoch = len(self.windows) // (batch_size * world_size)
        if self.batches_per_epoch == 0:
            raise UserError(
                f"the data has {len(self.windows)} training windows of {seq_len} tokens, fewer than one global batch "
                f"({batch_size} x {world_size} workers); use more data or a smaller seq_len / batch_size"
            )
        self.epoch, self.batch = 0, 0
        self._perm_epoch, self._perm = -1, np.empty(0, dtype=np.int64)

    def permutation(self, epoch: int) -> np.ndarray:
        if epoch != self._perm_epoch:
            rng = np.random.default_rng([self.seed, epoch])
            self._perm = self.windows.start + rng.permutation(len(self.windows))
            self._perm_epoch = epoch
        return self._perm

    def window_ids(self, epoch: int, batch: int) -> np.ndarray:
        """The window indices this rank reads for global batch `batch` of `epoch`."""
        first = (batch * self.world_size + self.rank) * self.batch_size
        return self.permutation(epoch)[first : first + self.batch_size]

    def next_windows(self) -> torch.Tensor:
        """This rank's next batch as one (batch_size, seq_len + 1) int64 tensor: inputs [:, :-1], targets [:, 1:]."""
        ids = self.window_ids(self.epoch, self.batch)
        # A fresh buffer per batch: the caller keeps (or pins, or ships to the GPU) the tensor that wraps it.
        buf = np.empty((len(ids), self.seq_len + 1), dtype=np.int64)
        for row, w in enumerate(ids):
            self.stream.read(int(w) * self.seq_len, buf[row])
        self.batch += 1
        if self.batch == self.batches_per_epoch:
            self.epoch, self.batch = self.epoch + 1, 0
        return torch.from_numpy(buf)

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets), views of one window tensor: no copy beyond the gather itself."""
        windows = self.next_windows()
        return windows[:, :-1], windows[:, 1:]

    def state_dict(self) -> dict:
        return {
            "epoch": self.epoch,
            "batch": self.batch,
            "seed": self.seed,
            "world_size": self.world_size,
            "seq_len": self.seq_len,
            "batch_size": self.batch_size,
            "windows": [self.windows.start, self.windows.stop],
            "fingerprint": self.stream.fingerprint,
        }

    def load_state_dict(self, state: dict) -> None:
        mine = self.state_dict()
        for key in ("seed", "world_size", "seq_len", "batch_size", "windows", "fingerprint"):
            if state[key] != mine[key]:
                what = "the data" if key in ("windows", "fingerprint") else key
                raise UserError(
                    f"cannot resume: the checkpoint's loader has {key}={state[key]!r} but this run has {mine[key]!r} "
                    f"({what} changed); resume with the original settings or start a new run folder"
                )
        self.epoch, self.batch = int(state["epoch"]), int(state["batch"])


def eval_batches(
    stream: TokenStream,
    seq_len: int,
    batch_size: int,
    windows: range,
    rank: int = 0,
    world_size: int = 1,
    max_batches: Optional[int] = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Held-out windows in order, dealt round-robin to ranks; the same windows every evaluation."""
    mine = windows[rank::world_size]
    n_batches = (len(mine) + batch_size - 1) // batch_size
    if max_batches is not None:
        n_batches = min(n_batches, max_batches)
    for b in range(n_batches):
        ids = mine[b * batch_size : (b + 1) * batch_size]
        buf = np.empty((len(ids), seq_len + 1), dtype=np.int64)
        for row, w in enumerate(ids):
            stream.read(w * seq_len, buf[row])
        windows = torch.from_numpy(buf)
        yield windows[:, :-1], windows[:, 1:]
