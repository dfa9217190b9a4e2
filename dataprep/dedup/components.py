"""Connected components of a duplicate graph, as steps that each see one partition of the edges.

Nodes are int64 keys. The distributed driver alternates `large_star` and `small_star` (Kiveris et al.,
"Connected Components in MapReduce and Beyond", 2014) over hash partitions of the edge set until neither
changes it; then every component is a star whose centre is its smallest node. Each step is a pure function
of the edges grouped at one node, so a partition holds only its own share of the edges, and the result (the
set of components) does not depend on how edges were partitioned. Which document a component keeps is
decided afterwards by document id (`choose_representatives`), not by node key.
"""

from __future__ import annotations

import numpy as np

from dataprep.dedup.shingles import fmix64


def unique_edges(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct directed edges without self-loops, sorted by (src, dst)."""
    keep = src != dst
    pairs = np.unique(np.stack([src[keep], dst[keep]], axis=1), axis=0)
    return pairs[:, 0].copy(), pairs[:, 1].copy()


def _group_starts(sorted_keys: np.ndarray) -> np.ndarray:
    if len(sorted_keys) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.concatenate([[True], sorted_keys[1:] != sorted_keys[:-1]]))


def group_min(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """For edges sorted by src: min(src, smallest dst of its group), repeated for every edge of the group."""
    starts = _group_starts(src)
    lengths = np.diff(np.append(starts, len(src)))
    mins = np.minimum(np.minimum.reduceat(dst, starts), src[starts]) if len(src) else dst[:0]
    return np.repeat(mins, lengths)


def star_edges(keys: np.ndarray, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges (member, centre) joining every member of each equal-key group to the group's smallest node."""
    order = np.lexsort((nodes, keys))
    keys, nodes = keys[order], nodes[order]
    starts = _group_starts(keys)
    lengths = np.diff(np.append(starts, len(keys)))
    centre = np.repeat(nodes[starts], lengths)
    return unique_edges(nodes, centre)


def large_star(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Input: both directions of every edge at node `src`. Link each larger neighbour to the neighbourhood's min."""
    src, dst = unique_edges(src, dst)
    m = group_min(src, dst)
    larger = dst > src
    return unique_edges(dst[larger], m[larger])


def small_star(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Input: every edge at its larger end (src > dst). Link the node and its smaller neighbours to their min."""
    src, dst = unique_edges(src, dst)
    m = group_min(src, dst)
    starts = _group_starts(src)
    return unique_edges(np.concatenate([dst, src[starts]]), np.concatenate([m, m[starts]]))


def fingerprint(src: np.ndarray, dst: np.ndarray) -> tuple[int, int]:
    """(count, order-independent hash) of a set of undirected edges given once each as (larger, smaller)."""
    with np.errstate(over="ignore"):
        h = fmix64(src.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) ^ dst.astype(np.uint64))
        return int(len(src)), int(np.sum(h, dtype=np.uint64))


def partition_of(nodes: np.ndarray, partitions: int) -> np.ndarray:
    """The partition of each node: a hash, so skewed key ranges still spread evenly."""
    return (fmix64(nodes.astype(np.uint64)) % np.uint64(partitions)).astype(np.int64)


def split(partitions: int, by: np.ndarray, **columns: np.ndarray) -> list[dict[str, np.ndarray]]:
    """Cut parallel columns into `partitions` pieces by the partition number in `by`."""
    order = np.argsort(by, kind="stable")
    bounds = np.searchsorted(by[order], np.arange(partitions + 1))
    return [
        {name: col[order[bounds[p] : bounds[p + 1]]] for name, col in columns.items()} for p in range(partitions)
    ]
