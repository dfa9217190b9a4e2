"""Node keys: every input document as one int64, (input shard << 32 | row in shard).

Unique by construction and cheap to route back to the shard that holds the document; which document of a
duplicate group survives never depends on them (that is decided by `id`), only ties between equal ids do.
"""

from __future__ import annotations

import numpy as np

from dataprep.dedup.partitions import split

ROW_BITS = np.int64(32)
ROW_MASK = np.int64(0xFFFFFFFF)


def node_keys(shard: int, rows: np.ndarray) -> np.ndarray:
    return (np.int64(shard) << ROW_BITS) | rows.astype(np.int64)


def shard_of(nodes: np.ndarray) -> np.ndarray:
    return nodes >> ROW_BITS


def rows_in_shard(nodes: np.ndarray, shard: int) -> np.ndarray:
    """The distinct rows of input shard `shard` among `nodes` (which may name other shards too), sorted."""
    return np.unique(nodes[shard_of(nodes) == shard] & ROW_MASK)


def by_input_shard(partitions: int, nodes: np.ndarray) -> list[dict[str, np.ndarray]]:
    """Nodes routed to the task that writes their input shard: shard i reads partition i % partitions."""
    return split(partitions, shard_of(nodes) % partitions, node=nodes)
