"""The task of each dedup layer: read what the layer needs, call its pure function in `dataprep.dedup`, route the
result to the next layer's partitions. `dataprep.distributed.dedup` wires these layers together."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from dataprep.dataset.reader import read_shard_file
from dataprep.dataset.stats import Stats
from dataprep.dedup import components as cc
from dataprep.dedup.candidates import band_edges, exact_groups
from dataprep.dedup.nodes import by_input_shard
from dataprep.dedup.params import DedupParams
from dataprep.dedup.partitions import Piece, concat
from dataprep.dedup.removal import surviving_rows
from dataprep.dedup.report import CLUSTERS_STAGE
from dataprep.dedup.sign import sign_shard
from dataprep.dedup.survivors import attach_ids, choose_survivors
from dataprep.distributed.shuffle import LayerTask

def _read(shard: tuple, columns=None) -> pa.Table:
    """An input shard, checked against its manifest entry: `shard` is (url, ShardInfo, dataset url)."""
    url, info, dataset = shard
    return read_shard_file(url, columns, expect=info, dataset=dataset)


def sign(shard: tuple, index: int, params: DedupParams, partitions: int) -> dict:
    table = _read(shard, ["id", "text"])
    signed = sign_shard(table, index, params, partitions)
    text_bytes = int(pc.sum(pc.binary_length(table.column("text"))).as_py() or 0)
    info = {"rows": table.num_rows, "empty": signed.without_tokens, "bytes": text_bytes}
    return {"bands": signed.bands, "exact": signed.exact, "ids": signed.ids, "info": info}


def band(params: DedupParams, partitions: int, bands: list[Piece]) -> dict:
    edges = band_edges(bands, params)
    return {"edges": cc.at_both_ends(partitions, edges.src, edges.dst),
            "info": {"candidate_buckets": edges.candidate_buckets, "edges": int(len(edges.src))}}


def exact(partitions: int, hashes: list[Piece]) -> dict:
    groups = exact_groups(hashes)
    return {"edges": cc.at_both_ends(partitions, groups.removed, groups.kept),
            "removals": by_input_shard(partitions, groups.removed),
            "info": {"exact_removed": int(len(groups.removed))}}


def large_star(partitions: int, edges: list[Piece]) -> dict:
    step = cc.large_star_step(edges)
    return {"edges": cc.at_larger_end(partitions, step.src, step.dst), "info": {"fp": step.fingerprint}}


def small_star(partitions: int, edges: list[Piece]) -> dict:
    step = cc.small_star_step(edges)
    return {"edges": cc.at_both_ends(partitions, step.src, step.dst), "info": {"fp": step.fingerprint}}


def attach(partitions: int, stars: list[Piece], ids: list[Piece]) -> dict:
    return {"members": attach_ids(stars, ids, partitions)}


def choose(partitions: int, with_clusters: bool, members: list[Piece]) -> dict:
    survivors = choose_survivors(members)
    return {"removals": by_input_shard(partitions, survivors.removed),
            "clusters": survivors.cluster_rows() if with_clusters else None,
            "info": {"clusters": survivors.clusters, "sizes": dict(survivors.cluster_sizes())}}


def write_documents(output, shard: tuple, index: int, exact: bool, exact_removals: list[Piece],
                    near_removals: list[Piece]) -> dict:
    """Output shard `index` = the surviving rows of input shard `index` (`output` is the driver's OutputDataset)."""
    result = output.write_shard(index, lambda: surviving_rows(
        _read(shard), index, concat(exact_removals, "node"), concat(near_removals, "node"), exact))
    return {"info": {"result": result.to_json()}}


def write_clusters(output, index: int, rows: pa.Table) -> dict:
    """Clusters shard `index` = the members of choose partition `index`'s components."""
    def shard():
        stats = Stats()
        stats.record_stage(CLUSTERS_STAGE, rows.num_rows, rows.num_rows)
        return rows, stats

    return {"info": {"result": output.write_shard(index, shard).to_json()}}


SIGN = LayerTask(sign, partitioned=("bands", "exact", "ids"))
BAND = LayerTask(band, partitioned=("edges",))
EXACT = LayerTask(exact, partitioned=("edges", "removals"))
LARGE_STAR = LayerTask(large_star, partitioned=("edges",))
SMALL_STAR = LayerTask(small_star, partitioned=("edges",))
ATTACH = LayerTask(attach, partitioned=("members",))
CHOOSE = LayerTask(choose, partitioned=("removals",), whole=("clusters",))
WRITE_DOCUMENTS = LayerTask(write_documents)
WRITE_CLUSTERS = LayerTask(write_clusters)
