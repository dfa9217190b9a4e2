"""Pretraining: next-token prediction on every token of documents joined end to end and cut into windows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional

import torch

from training.loader import WindowLoader, eval_batches, num_windows, split_windows
from training.batch import Batch
from training.objectives.base import Output, RunContext, token_losses, valid_targets
from training.shards import TokenizerInfo, TokenStream, open_token_stream


class LanguageModeling:
    name = "pretrain"
    unit = "tokens"
    layouts = None  # any token layout: dialogue and preference tokens are text too
    metric_names: tuple[str, ...] = ()

    def __init__(self, cfg):
        self.cfg = cfg

    def count(self, batch: Batch) -> torch.Tensor:
        return valid_targets(batch)

    def __call__(self, model, batch: Batch) -> Output:
        losses = token_losses(model, batch)
        return Output(losses.sum(), self.count(batch), {})

    def open_data(self, cfg, expect_tokenizer: Optional[str]) -> "WindowData":
        stream = open_token_stream(cfg.data, cfg.data_cache, expect_tokenizer=expect_tokenizer)
        total = num_windows(stream, cfg.seq_len)
        if cfg.val_data:
            val_stream = open_token_stream(cfg.val_data, cfg.data_cache, expect_tokenizer=expect_tokenizer)
            return WindowData(stream, range(total), val_stream, range(num_windows(val_stream, cfg.seq_len)), cfg)
        train, val = split_windows(total, cfg.val_fraction)
        return WindowData(stream, train, stream, val, cfg)

    def prepare(self, model, data, ctx: RunContext) -> None:
        return None


def window_batch(windows: torch.Tensor) -> Batch:
    """Inputs and targets as views of one (B, T + 1) window tensor."""
    return Batch(windows[:, :-1], windows[:, 1:])


class BatchWindowLoader:
    """The window loader, handing out Batches; its state is the window loader's."""

    def __init__(self, loader: WindowLoader):
        self.inner = loader

    @property
    def epoch(self) -> int:
        return self.inner.epoch

    def next_ids(self) -> list[int]:
        return self.inner.window_ids(self.inner.epoch, self.inner.batch).tolist()

    def next_batch(self) -> Batch:
        return window_batch(self.inner.next_windows())

    def state_dict(self) -> dict:
        return self.inner.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.inner.load_state_dict(state)


@dataclass
class WindowData:
    stream: TokenStream
    train_windows: range
    val_stream: TokenStream
    val_windows: range
    cfg: object

    @property
    def tokenizer(self) -> TokenizerInfo:
        return self.stream.tokenizer

    @property
    def fingerprint(self) -> str:
        return self.stream.fingerprint

    @property
    def summary(self) -> dict:
        return {"train_windows": len(self.train_windows), "val_windows": len(self.val_windows)}

    def loader(self, rank: int, world: int) -> BatchWindowLoader:
        cfg = self.cfg
        return BatchWindowLoader(
            WindowLoader(self.stream, cfg.seq_len, cfg.batch_size, cfg.seed, rank, world, self.train_windows)
        )

    def has_eval(self) -> bool:
        return len(self.val_windows) > 0

    def eval_batches(self, rank: int, world: int, max_batches: Optional[int]) -> Iterator[Batch]:
        cfg = self.cfg
        for x, y in eval_batches(self.val_stream, cfg.seq_len, cfg.batch_size, self.val_windows, rank, world,
                                 max_batches):
            yield Batch(x, y)
