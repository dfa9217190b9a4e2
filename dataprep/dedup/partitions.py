"""Columns cut into hash partitions, the unit every dedup layer hands to the next.

A piece is a dict of equal-length columns (numpy arrays, and Arrow strings for ids) holding one partition's
share of a task's output; `{}` is a piece with no rows and no columns. A key's partition depends on the
key only, never on the worker count, so the same rows meet in the same partition on any cluster.
"""

from __future__ import annotations

from typing import Union

import numpy as np
import pyarrow as pa

from dataprep.dedup.shingles import fmix64

Column = Union[np.ndarray, pa.Array]
Piece = dict[str, Column]


def partition_of(nodes: np.ndarray, partitions: int) -> np.ndarray:
    """The partition of each node: a hash, so skewed key ranges still spread evenly."""
    return (fmix64(nodes.astype(np.uint64)) % np.uint64(partitions)).astype(np.int64)


def partition_of_hash(hashes: np.ndarray, partitions: int) -> np.ndarray:
    """The partition of keys that are already well-mixed 64-bit hashes (band keys, text hashes): their low bits."""
    return (hashes % np.uint64(partitions)).astype(np.int64)


def split(partitions: int, by: np.ndarray, **columns: np.ndarray) -> list[Piece]:
    """Cut parallel columns into `partitions` pieces by the partition number in `by`."""
    order = np.argsort(by, kind="stable")
    bounds = np.searchsorted(by[order], np.arange(partitions + 1))
    return [
        {name: col[order[bounds[p] : bounds[p + 1]]] for name, col in columns.items()} for p in range(partitions)
    ]


def concat(pieces: list[Piece], name: str, dtype=np.int64) -> np.ndarray:
    """One numpy column from the pieces that have rows."""
    parts = [p[name] for p in pieces if p and len(p[name])]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def concat_ids(pieces: list[Piece], name: str = "id") -> pa.Array:
    """One Arrow string column from the pieces that have rows."""
    parts = [p[name] for p in pieces if p and len(p[name])]
    return pa.concat_arrays(parts) if parts else pa.array([], pa.large_string())


def merge(pieces: list[Piece]) -> Piece:
    """One piece from several pieces of the same partition and columns (`{}` when there are none)."""
    if not pieces:
        return {}
    return {name: concat_ids(pieces, name) if isinstance(pieces[0][name], pa.Array)
            else np.concatenate([p[name] for p in pieces]) for name in pieces[0]}


def partition_count(input_shards: int, rows: int, rows_per_partition: int) -> int:
    """P from the input only (never the workers or cluster, so outputs cut by partition are the same bytes
    wherever the job runs): one partition per input shard (at most 64), more as the corpus grows."""
    return max(1, min(input_shards, 64), -(-rows // max(rows_per_partition, 1)))
