"""Attaching ids to converged components and choosing each component's survivor (no Ray)."""

import numpy as np
import pyarrow as pa

from dataprep.dedup import components as cc
from dataprep.dedup.partitions import merge, partition_of, split
from dataprep.dedup.survivors import attach_ids, choose_survivors


def star_pieces(pairs, partitions):
    """Converged stars given as (member, minimum) pairs, routed like the components layer's output."""
    src = np.array([a for a, _ in pairs], np.int64)
    dst = np.array([b for _, b in pairs], np.int64)
    return cc.at_both_ends(partitions, src, dst)


ID_OF = {1: "k", 2: "c", 3: "a", 4: "b", 10: "q", 11: "p", 20: "lonely"}


def id_pieces(partitions):
    nodes = np.array(sorted(ID_OF), np.int64)
    parts = split(partitions, partition_of(nodes, partitions), node=nodes)
    return [{"node": p["node"], "id": pa.array([ID_OF[n] for n in p["node"].tolist()], pa.large_string())}
            for p in parts]


def survivors_for(partitions):
    stars = star_pieces([(2, 1), (3, 1), (4, 1), (11, 10)], partitions)
    attached = [attach_ids([stars[p]], [id_pieces(partitions)[p]], partitions) for p in range(partitions)]
    return [choose_survivors([a[p] for a in attached]) for p in range(partitions)]


def test_the_smallest_id_survives_not_the_smallest_node():
    (only,) = survivors_for(1)
    # Component {1, 2, 3, 4}: ids k, c, a, b -> "a" (node 3) kept; {10, 11}: q, p -> "p" (node 11) kept.
    assert sorted(only.removed.tolist()) == [1, 2, 4, 10]
    assert only.clusters == 2 and only.cluster_sizes() == {4: 1, 2: 1}
    assert only.cluster_rows().to_pylist() == [
        {"id": "a", "cluster_id": "a", "kept": True}, {"id": "b", "cluster_id": "a", "kept": False},
        {"id": "c", "cluster_id": "a", "kept": False}, {"id": "k", "cluster_id": "a", "kept": False},
        {"id": "p", "cluster_id": "p", "kept": True}, {"id": "q", "cluster_id": "p", "kept": False},
    ]  # a document in no component (node 20) is in no cluster


def test_components_lie_whole_in_one_partition_so_results_do_not_depend_on_partitions():
    one = survivors_for(1)[0]
    three = survivors_for(3)
    assert sorted(np.concatenate([s.removed for s in three]).tolist()) == sorted(one.removed.tolist())
    rows = pa.concat_tables([s.cluster_rows() for s in three]).sort_by([("cluster_id", "ascending"),
                                                                        ("id", "ascending")])
    assert rows.equals(one.cluster_rows())


def test_ties_between_equal_ids_go_to_the_smallest_node():
    piece = {"root": np.array([5, 5, 5], np.int64), "node": np.array([9, 6, 5], np.int64),
             "id": pa.array(["same", "same", "z"], pa.large_string())}
    survivors = choose_survivors([merge([piece]), {}])
    assert sorted(survivors.removed.tolist()) == [5, 9]
