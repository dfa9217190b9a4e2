"""Dialogue and preference token datasets as memory-mapped rows, addressable by global row index.

Pretraining reads one flat stream (training.shards); fine-tuning needs each conversation (or pair) whole, with
its loss mask. Each list column stays a view of the memory-mapped shard: per row we keep only which record
batch holds it, where it starts and how long it is.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pyarrow as pa

from dataprep.dataset import Dataset, open_dataset
from dataprep.errors import UserError
from training.shards import TokenizerInfo, same_tokenizer, stage_shard, tokenizer_info

# The columns each layout is trained from (dataprep.tokenize writes them).
LAYOUT_COLUMNS = {
    "dialogues": ("tokens", "loss_mask"),
    "preferences": ("tokens", "loss_mask", "rejected_tokens", "rejected_loss_mask"),
}


def token_layout(ds: Dataset) -> str:
    """What a tokens dataset was made from: documents, dialogues or preferences (provenance.token_layout)."""
    layout = ds.manifest.provenance.get("token_layout")
    if layout is not None:
        return str(layout)
    names = ds.schema.names  # written before token_layout was recorded: the columns tell
    return "preferences" if "rejected_tokens" in names else "dialogues" if "loss_mask" in names else "documents"


def require_layout(ds: Dataset, allowed: Sequence[str], command: str) -> str:
    layout = token_layout(ds)
    if layout not in allowed:
        made_by = {"documents": "pretrain", "dialogues": "sft", "preferences": "dpo"}.get(layout, "?")
        raise UserError(
            f"{ds.url} holds {layout} tokens; `training {command}` trains on {' or '.join(allowed)} tokens "
            f"(made by `dataprep tokenize` from a {'/'.join(allowed)} dataset); {layout} tokens are for "
            f"`training {made_by}`"
        )
    return layout


class _Column:
    def __init__(self):
        self.values: list[np.ndarray] = []
        self.chunk: list[np.ndarray] = []
        self.start: list[np.ndarray] = []
        self.length: list[np.ndarray] = []

    def add(self, chunk: pa.LargeListArray, path: str, name: str) -> None:
        offsets = chunk.offsets.to_numpy()
        try:
            values = chunk.values.to_numpy(zero_copy_only=True)
        except pa.ArrowInvalid:
            raise UserError(f"{path}: column {name} is compressed or has nulls; token shards must be plain") from None
        self.chunk.append(np.full(len(chunk), len(self.values), dtype=np.int32))
        self.start.append(offsets[:-1].astype(np.int64))
        self.length.append(np.diff(offsets).astype(np.int64))
        self.values.append(values)

    def freeze(self) -> None:
        self.chunk_of = np.concatenate(self.chunk) if self.chunk else np.zeros(0, np.int32)
        self.starts = np.concatenate(self.start) if self.start else np.zeros(0, np.int64)
        self.lengths = np.concatenate(self.length) if self.length else np.zeros(0, np.int64)
        del self.chunk, self.start, self.length

    def row(self, i: int) -> np.ndarray:
        s = self.starts[i]
        return self.values[self.chunk_of[i]][s : s + self.lengths[i]]


class TokenRows:
    """The rows of one or more token datasets of the same layout and tokenizer."""

    def __init__(self, columns: dict[str, _Column], fingerprint: str, tokenizer: TokenizerInfo, layout: str):
        self.columns, self.fingerprint, self.tokenizer, self.layout = columns, fingerprint, tokenizer, layout
        self.num_rows = len(next(iter(columns.values())).lengths)

    def row(self, column: str, i: int) -> np.ndarray:
        return self.columns[column].row(i)

    def lengths(self, column: str) -> np.ndarray:
        return self.columns[column].lengths

    def mask_sums(self, column: str, first: int = 1) -> np.ndarray:
        """Per row, the mask's sum from position `first` on (targets are the tokens after the first)."""
        col = self.columns[column]
        out = np.zeros(self.num_rows, dtype=np.int64)
        bounds = np.searchsorted(col.chunk_of, np.arange(len(col.values) + 1))  # rows of a chunk are contiguous
        for c, values in enumerate(col.values):
            rows = slice(bounds[c], bounds[c + 1])
            csum = np.concatenate([[0], np.cumsum(values, dtype=np.int64)])  # one record batch at a time
            start = col.starts[rows] + np.minimum(first, col.lengths[rows])
            out[rows] = csum[col.starts[rows] + col.lengths[rows]] - csum[start]
        return out


def open_token_rows(
    urls: str | Sequence[str],
    layouts: Sequence[str],
    command: str,
    cache_dir: Optional[str | Path] = None,
    expect_tokenizer: Optional[str] = None,
) -> TokenRows:
    urls = [urls] if isinstance(urls, str) else list(urls)
    datasets = [open_dataset(u, kind="tokens") for u in urls]
    found = {require_layout(ds, layouts, command) for ds in datasets}
    if len(found) > 1:
        raise UserError(f"{', '.join(urls)} mix token layouts ({', '.join(sorted(found))}); train on one kind at once")
    layout = found.pop()
    infos = [(ds.url, tokenizer_info(ds)) for ds in datasets]
    if expect_tokenizer is not None:
        infos.insert(0, ("the run's tokenizer", TokenizerInfo(expect_tokenizer, 0, 0)))
    same_tokenizer(infos)
    names = LAYOUT_COLUMNS[layout]
    columns = {n: _Column() for n in names}
    digest = hashlib.sha256()
    for ds in datasets:
        missing = [n for n in names if n not in ds.schema.names]
        if missing:
            raise UserError(f"{ds.url} lacks column {missing[0]} of {layout} tokens; re-tokenize it with `dataprep tokenize`")
        for i, shard in enumerate(ds.shards):
            digest.update(shard.sha256.encode())
            path = stage_shard(ds, i, cache_dir)
            try:
                table = pa.ipc.open_file(pa.memory_map(path, "r")).read_all()
            except (pa.ArrowInvalid, OSError) as exc:
                raise UserError(f"{path} is not a readable Arrow IPC file ({exc})") from None
            for n in names:
                for chunk in table.column(n).chunks:
                    columns[n].add(chunk, path, n)
    for col in columns.values():
        col.freeze()
    for tokens, mask in zip(names[::2], names[1::2]):
        bad = np.flatnonzero(columns[tokens].lengths != columns[mask].lengths)
        if len(bad):
            raise UserError(f"{', '.join(urls)}: row {int(bad[0])} has {tokens} and {mask} of different lengths; "
                            "re-tokenize it with `dataprep tokenize`")
    rows = TokenRows(columns, digest.hexdigest(), tokenizer_info(datasets[0]), layout)
    if rows.num_rows == 0:
        raise UserError(f"{', '.join(urls)} holds no rows")
    return rows
