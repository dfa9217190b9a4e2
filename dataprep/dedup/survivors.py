"""Layer 4 of dedup: one kept document per connected component, chosen by id.

`attach_ids` joins the converged star edges (member -> component minimum) with document ids and routes each
member to its component's partition; `choose_survivors` then sees whole components and keeps the smallest
id (then node) of each, so the kept ids do not depend on partitioning, sharding or worker count.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dataprep.dedup import components as cc
from dataprep.dedup.partitions import Piece, concat, concat_ids, partition_of, split


def attach_ids(edges: list[Piece], ids: list[Piece], partitions: int) -> list[Piece]:
    """(root, node, id) of every member of the components in `edges` (converged stars, both directions, at src),
    routed by root; `ids` are (node, id) rows covering at least those members."""
    ids = [p for p in ids if p]
    src, dst = cc.unique_edges(concat(edges, "src"), concat(edges, "dst"))
    member = src > dst  # star edges point from each member to its component's smallest node
    nodes = np.concatenate([src[member], np.unique(src[~member])])
    roots = np.concatenate([dst[member], np.unique(src[~member])])
    id_nodes = concat(ids, "node")
    id_values = concat_ids(ids)
    order = np.argsort(id_nodes)
    where = order[np.searchsorted(id_nodes[order], nodes)] if len(nodes) else np.zeros(0, np.int64)
    parts = split(partitions, partition_of(roots, partitions), root=roots, node=nodes, at=np.arange(len(nodes)))
    return [{"root": part["root"], "node": part["node"], "id": id_values.take(pa.array(where[part.pop("at")]))}
            for part in parts]


@dataclass
class Survivors:
    members: pa.Table  # (root, id, node) sorted by (root, id, node): each component's rows together, kept first
    kept: np.ndarray  # bool per member row

    @property
    def removed(self) -> np.ndarray:
        """The nodes of every member that is not kept."""
        return self.members.column("node").to_numpy()[~self.kept]

    @property
    def clusters(self) -> int:
        return int(self.kept.sum())

    def cluster_sizes(self) -> Counter:
        """{members: components of that size}."""
        starts = np.flatnonzero(self.kept)
        return Counter(np.diff(np.append(starts, len(self.kept))).tolist())

    def cluster_rows(self) -> pa.Table:
        """Every member as (id, cluster_id = its component's kept id, kept), sorted by (cluster_id, id).

        A component lies whole in one partition and its kept id does not depend on partitioning, so the union
        of every partition's rows is the same for any partition count."""
        starts = np.flatnonzero(self.kept)
        keeper = np.repeat(starts, np.diff(np.append(starts, len(self.kept))))
        ids = self.members.column("id")
        rows = pa.table({"id": ids, "cluster_id": ids.take(pa.array(keeper)), "kept": pa.array(self.kept)})
        return rows.sort_by([("cluster_id", "ascending"), ("id", "ascending"), ("kept", "descending")])


def choose_survivors(pieces: list[Piece]) -> Survivors:
    """Keep the smallest id (then node) of each component among one partition's (root, node, id) rows."""
    pieces = [p for p in pieces if p]
    table = pa.table({"root": concat(pieces, "root"), "id": concat_ids(pieces), "node": concat(pieces, "node")})
    table = table.sort_by([("root", "ascending"), ("id", "ascending"), ("node", "ascending")])
    roots = table.column("root").to_numpy()
    first = np.ones(len(roots), dtype=bool)
    first[1:] = roots[1:] != roots[:-1]
    return Survivors(table, first)
