"""Dialogue fine-tuning: the language-modelling loss on the assistant turns only, over packed conversations."""

from __future__ import annotations

from typing import Iterator, Optional

from training.batch import Batch
from training.objectives.lm import LanguageModeling
from training.packing import (
    ConversationCollator,
    Conversations,
    PlanLoader,
    conversations,
    epoch_plan,
    eval_plan,
    eval_rows,
    split_held_out,
)
from training.rows import TokenRows, open_token_rows


class SupervisedFineTuning(LanguageModeling):
    """The loss is LanguageModeling's, summed over valid targets; the mask lives in the targets (IGNORE_INDEX
    outside assistant content and <|end|>), so the count is of learned tokens only."""

    name = "sft"
    layouts = ("dialogues",)

    def open_data(self, cfg, expect_tokenizer: Optional[str]) -> "ConversationData":
        rows = open_token_rows(cfg.data, self.layouts, self.name, cfg.data_cache, expect_tokenizer)
        conv = conversations(rows, cfg.seq_len)
        if cfg.val_data:
            val_rows = open_token_rows(cfg.val_data, self.layouts, self.name, cfg.data_cache, expect_tokenizer)
            return ConversationData(rows, conv, val_rows, conversations(val_rows, cfg.seq_len), cfg)
        train, val = split_held_out(len(conv), cfg.val_fraction, cfg.seed)
        return ConversationData(rows, conv.subset(train), rows, conv.subset(val), cfg, totals=conv)


class ConversationData:
    def __init__(self, rows: TokenRows, train: Conversations, val_rows: TokenRows, val: Conversations, cfg,
                 totals: Optional[Conversations] = None):
        self.rows, self.train, self.val_rows, self.val, self.cfg = rows, train, val_rows, val, cfg
        self.tokenizer = rows.tokenizer
        self.fingerprint = rows.fingerprint
        counted = totals if totals is not None else train
        self.summary = {**counted.summary("sft"), "train_conversations": len(train), "val_conversations": len(val)}
        if totals is None:
            self.summary = {**self.summary, **{f"val_{k}": v for k, v in val.summary("sft").items()}}

    @property
    def pad_id(self) -> int:
        pad = self.tokenizer.pad_id
        return int(pad) if pad is not None else int(self.tokenizer.eos_id)

    def loader(self, rank: int, world: int) -> PlanLoader:
        cfg = self.cfg
        lengths = self.train.positions
        identity = {"seed": cfg.seed, "seq_len": cfg.seq_len, "packing": cfg.packing, "fingerprint": self.fingerprint,
                    "conversations": len(self.train)}
        return PlanLoader(
            lambda epoch: epoch_plan(lengths, cfg.seq_len, cfg.seed, epoch, cfg.packing),
            ConversationCollator(self.rows, self.train, cfg.packing, self.pad_id),
            cfg.batch_size, rank, world, identity, "rows of packed conversations" if cfg.packing else "conversations",
        )

    def has_eval(self) -> bool:
        return len(self.val) > 0

    def eval_batches(self, rank: int, world: int, max_batches: Optional[int]) -> Iterator[Batch]:
        cfg = self.cfg
        plan = eval_plan(self.val.positions, cfg.seq_len, cfg.packing)
        collate = ConversationCollator(self.val_rows, self.val, cfg.packing, self.pad_id)
        return eval_rows(plan, collate, cfg.batch_size, rank, world, max_batches)
