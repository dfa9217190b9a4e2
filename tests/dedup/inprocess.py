"""Dedup's layers chained in this process, with lists standing in for Ray's shuffles (no Ray): what the layers
compute, apart from how they are scheduled."""

from __future__ import annotations

import pyarrow as pa

from dataprep.dedup import components as cc
from dataprep.dedup.candidates import band_edges, exact_groups
from dataprep.dedup.nodes import by_input_shard
from dataprep.dedup.params import DedupParams
from dataprep.dedup.partitions import concat
from dataprep.dedup.removal import surviving_rows
from dataprep.dedup.sign import sign_shard
from dataprep.dedup.survivors import attach_ids, choose_survivors


def column(outputs: list[list], p: int) -> list:
    """Piece p of every task's output: the input of partition p's task in the next layer."""
    return [out[p] for out in outputs]


def converged_stars(edges: list[list], partitions: int) -> list[list]:
    """Large-star / small-star rounds over `edges[p]` (both directions, at src) until they stop changing."""
    convergence = cc.Convergence()
    while True:
        large = [cc.large_star_step(edges[p]) for p in range(partitions)]
        if convergence.add(cc.summed([s.fingerprint for s in large])):
            return edges
        routed = [cc.at_larger_end(partitions, s.src, s.dst) for s in large]
        small = [cc.small_star_step(column(routed, p)) for p in range(partitions)]
        convergence.add(cc.summed([s.fingerprint for s in small]))
        routed = [cc.at_both_ends(partitions, s.src, s.dst) for s in small]
        edges = [column(routed, p) for p in range(partitions)]


def deduplicate(shards: list[pa.Table], params: DedupParams, partitions: int) -> tuple[list[pa.Table], pa.Table]:
    """The surviving rows of each input shard, and every partition's cluster rows concatenated."""
    signed = [sign_shard(t, i, params, partitions) for i, t in enumerate(shards)]
    edges = [[] for _ in range(partitions)]
    exact_removals = [[] for _ in range(partitions)]
    for p in range(partitions):
        band = band_edges([s.bands[p] for s in signed], params)
        for q, piece in enumerate(cc.at_both_ends(partitions, band.src, band.dst)):
            edges[q].append(piece)
        if params.exact:
            groups = exact_groups([s.exact[p] for s in signed])
            for q, piece in enumerate(cc.at_both_ends(partitions, groups.removed, groups.kept)):
                edges[q].append(piece)
            for q, piece in enumerate(by_input_shard(partitions, groups.removed)):
                exact_removals[q].append(piece)
    stars = converged_stars(edges, partitions)
    attached = [attach_ids(stars[p], [s.ids[p] for s in signed], partitions) for p in range(partitions)]
    survivors = [choose_survivors(column(attached, p)) for p in range(partitions)]
    near_removals = [by_input_shard(partitions, s.removed) for s in survivors]
    kept = []
    for i, table in enumerate(shards):
        exact_nodes = concat(exact_removals[i % partitions], "node")
        near_nodes = concat(column(near_removals, i % partitions), "node")
        kept.append(surviving_rows(table, i, exact_nodes, near_nodes, params.exact)[0])
    clusters = pa.concat_tables([s.cluster_rows() for s in survivors])
    return kept, clusters


def kept_ids(tables: list[pa.Table]) -> list[str]:
    return sorted(id_ for t in tables for id_ in t.column("id").to_pylist())


def cut(table: pa.Table, shards: int) -> list[pa.Table]:
    size = -(-table.num_rows // shards)
    return [table.slice(i, size) for i in range(0, table.num_rows, size)]

