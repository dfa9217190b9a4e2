"""Connected components of a duplicate graph, as steps that each see one partition of the edges.

Nodes are int64 keys. The distributed driver alternates `large_star` and `small_star` (Kiveris et al.,
"Connected Components in MapReduce and Beyond", 2014) over hash partitions of the edge set until neither
changes it; then every component is a star whose centre is its smallest node. Each step is a pure function
of the edges grouped at one node, so a partition holds only its own share of the edges, and the result (the
set of components) does not depend on how edges were partitioned. Which document a component keeps is
decided afterwards by document id (`survivors.choose_survivors`), not by node key.

A round's input pieces: large-star wants every edge at both of its ends (`at_both_ends`), small-star every
edge once, at its larger end (`at_larger_end`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dataprep.dedup.partitions import Piece, concat, partition_of, split
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


def at_both_ends(partitions: int, src: np.ndarray, dst: np.ndarray) -> list[Piece]:
    """Edges as large-star input: each edge at both of its ends."""
    a, b = np.concatenate([src, dst]), np.concatenate([dst, src])
    return split(partitions, partition_of(a, partitions), src=a, dst=b)


def at_larger_end(partitions: int, src: np.ndarray, dst: np.ndarray) -> list[Piece]:
    """Edges as small-star input: each edge once, at its larger end."""
    hi, lo = np.maximum(src, dst), np.minimum(src, dst)
    return split(partitions, partition_of(hi, partitions), src=hi, dst=lo)


@dataclass
class StarStep:
    src: np.ndarray  # the step's output edges
    dst: np.ndarray
    fingerprint: tuple[int, int]  # of the step's input edge set (this partition's share)


def large_star_step(pieces: list[Piece]) -> StarStep:
    """Large-star over one partition's edges (both directions, at `src`)."""
    src, dst = unique_edges(concat(pieces, "src"), concat(pieces, "dst"))
    once = src > dst  # every undirected edge is here once in this orientation, in exactly one partition
    return StarStep(*large_star(src, dst), fingerprint(src[once], dst[once]))


def small_star_step(pieces: list[Piece]) -> StarStep:
    """Small-star over one partition's edges (each once, at its larger end)."""
    src, dst = unique_edges(concat(pieces, "src"), concat(pieces, "dst"))
    return StarStep(*small_star(src, dst), fingerprint(src, dst))


def summed(fingerprints: list[tuple[int, int]]) -> tuple[int, int]:
    """The fingerprint of a whole edge set from those of its partitions."""
    return sum(f[0] for f in fingerprints), sum(f[1] for f in fingerprints) % (1 << 64)


class Convergence:
    """Alternating large-star and small-star has converged once three successive steps see the same edge set
    (by fingerprint): the last large-star input is then stars around each component's minimum."""

    def __init__(self):
        self.fingerprints: list[tuple[int, int]] = []

    def add(self, fingerprint: tuple[int, int]) -> bool:
        self.fingerprints.append(fingerprint)
        return len(self.fingerprints) >= 3 and self.fingerprints[-1] == self.fingerprints[-2] == self.fingerprints[-3]
