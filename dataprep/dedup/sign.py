"""Layer 1 of dedup: one input shard's documents as rows routed to the hash partitions of the next layers.

Each document with a token gives one band row per LSH band (routed by band key) and, for exact dedup, one
text-hash row (routed by hash); every document gives an id row (routed by node) so that survivors can be
chosen by id later. Documents without a token all normalize to the empty text and get neither band nor hash
rows: they are not copies of each other ("👍" and "★★★★★" are both kept).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dataprep.dedup import minhash
from dataprep.dedup.features import batch_bounds, batch_features
from dataprep.dedup.nodes import node_keys
from dataprep.dedup.params import DedupParams
from dataprep.dedup.partitions import Piece, merge, partition_of, partition_of_hash, split

BATCH_ROWS = 4096  # most documents per signature batch inside a shard
BATCH_BYTES = 1 << 20  # text per batch: the per-character work arrays take ~40x this


@dataclass
class SignedShard:
    bands: list[Piece]  # per partition of band key: (key, node), and with --verify (sig, id) of the document
    exact: list[Piece]  # per partition of text hash: (h1, h2, node, id)
    ids: list[Piece]  # per partition of node: (node, id) of every document
    without_tokens: int


def sign_shard(table: pa.Table, shard: int, params: DedupParams, partitions: int) -> SignedShard:
    """The band, text-hash and id rows of input shard number `shard` (columns id, text), in `partitions` pieces."""
    perms = minhash.permutations(params.num_perm, params.seed)
    bands: list[list[Piece]] = [[] for _ in range(partitions)]
    exact: list[list[Piece]] = [[] for _ in range(partitions)]
    ids_by_node: list[list[Piece]] = [[] for _ in range(partitions)]
    without_tokens = 0
    for start, stop in batch_bounds(table.column("text"), BATCH_BYTES, BATCH_ROWS):
        batch = table.slice(start, stop - start)
        f = batch_features(batch.column("text"), params, perms)
        nodes = node_keys(shard, np.arange(start, start + batch.num_rows))
        ids = batch.column("id").combine_chunks().cast(pa.large_string())
        without_tokens += int((~f.has_tokens).sum())
        signed = np.flatnonzero(f.has_tokens)
        for p, piece in enumerate(_band_rows(f, nodes, ids, signed, params, partitions)):
            bands[p].append(piece)
        for p, piece in enumerate(split(partitions, partition_of(nodes, partitions), node=nodes,
                                        order=np.arange(len(nodes)))):
            ids_by_node[p].append({"node": piece["node"], "id": ids.take(pa.array(piece["order"]))})
        if params.exact:
            h = f.text_hashes[signed]
            for p, piece in enumerate(split(partitions, partition_of_hash(h[:, 0], partitions),
                                            h1=h[:, 0], h2=h[:, 1], node=nodes[signed], order=signed)):
                exact[p].append({"h1": piece["h1"], "h2": piece["h2"], "node": piece["node"],
                                 "id": ids.take(pa.array(piece.pop("order")))})
    return SignedShard([merge(p) for p in bands], [merge(p) for p in exact], [merge(p) for p in ids_by_node],
                       without_tokens)


def _band_rows(f, nodes: np.ndarray, ids: pa.Array, signed: np.ndarray, params: DedupParams,
               partitions: int) -> list[Piece]:
    """One row per (document with a token, band), routed by the band key's low bits."""
    keys = f.band_keys[signed].reshape(-1)
    columns = {"key": keys, "node": np.repeat(nodes[signed], params.bands)}
    if params.verify:
        columns["row"] = np.repeat(np.arange(len(signed)), params.bands)
    pieces = split(partitions, partition_of_hash(keys, partitions), **columns)
    if params.verify:  # each bucket's centre is picked by id, so --verify needs signatures and ids
        for piece in pieces:
            row = piece.pop("row")
            piece["sig"] = f.signatures[signed][row]
            piece["id"] = ids.take(pa.array(signed[row]))
    return pieces
