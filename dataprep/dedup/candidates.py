"""Layer 2 of dedup: candidate duplicate edges from one partition's band buckets and exact-hash groups.

Both join each group's members to one member of the group, so a group of k documents gives k - 1 edges,
not k(k - 1)/2; connected components then merge groups that share a document.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dataprep.dedup import components as cc
from dataprep.dedup import minhash
from dataprep.dedup.params import DedupParams
from dataprep.dedup.partitions import Piece, concat, concat_ids


@dataclass
class BandEdges:
    src: np.ndarray  # distinct (member, centre) node pairs
    dst: np.ndarray
    candidate_buckets: int  # buckets with more than one member


def band_edges(pieces: list[Piece], params: DedupParams) -> BandEdges:
    """Join every member of each equal-band-key bucket to the bucket's centre.

    Without --verify the centre is the smallest node (any member would give the same components). With
    --verify a member is joined only if its signature is similar enough to the centre's, so the centre must
    not depend on where documents sit in the input: it is the smallest (id, node), like the survivor.
    """
    pieces = [p for p in pieces if p]
    keys = concat(pieces, "key", np.uint64)
    nodes = concat(pieces, "node")
    if params.verify:
        table = pa.table({"key": keys, "id": concat_ids(pieces), "node": nodes, "at": np.arange(len(keys))})
        order = table.sort_by([("key", "ascending"), ("id", "ascending"), ("node", "ascending")])
        order = order.column("at").to_numpy()
    else:
        order = np.lexsort((nodes, keys))
    keys, nodes = keys[order], nodes[order]
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]])) if len(keys) else np.zeros(0, np.int64)
    lengths = np.diff(np.append(starts, len(keys)))
    centre_row = np.repeat(starts, lengths)
    keep = np.ones(len(keys), dtype=bool)
    if params.verify and len(keys):
        sigs = np.concatenate([p["sig"] for p in pieces if len(p["node"])])[order]
        keep = minhash.jaccard(sigs, sigs[centre_row]) >= params.threshold
    src, dst = cc.unique_edges(nodes[keep], nodes[centre_row][keep])
    return BandEdges(src, dst, int((lengths > 1).sum()))


@dataclass
class ExactGroups:
    removed: np.ndarray  # nodes whose normalized text equals that of a document with a smaller (id, node)
    kept: np.ndarray  # for each removed node, the group's first document by (id, node)


def exact_groups(pieces: list[Piece]) -> ExactGroups:
    """Group one partition's documents by 128-bit normalized-text hash; all but each group's first are removed."""
    pieces = [p for p in pieces if p]
    table = pa.table({
        "h1": concat(pieces, "h1", np.uint64), "h2": concat(pieces, "h2", np.uint64),
        "id": concat_ids(pieces), "node": concat(pieces, "node"),
    })
    table = table.sort_by([("h1", "ascending"), ("h2", "ascending"), ("id", "ascending"), ("node", "ascending")])
    h1, h2 = table.column("h1").to_numpy(), table.column("h2").to_numpy()
    nodes = table.column("node").to_numpy()
    first = np.ones(len(nodes), dtype=bool)
    first[1:] = (h1[1:] != h1[:-1]) | (h2[1:] != h2[:-1])
    group_first = nodes[np.maximum.accumulate(np.where(first, np.arange(len(nodes)), 0))] if len(nodes) else nodes
    return ExactGroups(removed=nodes[~first], kept=group_first[~first])
