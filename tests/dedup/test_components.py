"""Connected components by large-star / small-star over hash partitions (no Ray), checked against union-find."""

import numpy as np
import pytest

from dataprep.dedup import components as cc


def _union_find_min(u, v):
    parent = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in zip(u.tolist(), v.tolist()):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x: find(x) for x in list(parent)}


def _run(u, v, P):
    """The driver's loop, with lists standing in for shuffles."""
    src, dst = u, v
    while True:
        parts = cc.split(P, cc.partition_of(np.concatenate([src, dst]), P),
                         src=np.concatenate([src, dst]), dst=np.concatenate([dst, src]))
        outs = [cc.large_star(p["src"], p["dst"]) for p in parts]
        s = np.concatenate([o[0] for o in outs])
        d = np.concatenate([o[1] for o in outs])
        hi, lo = np.maximum(s, d), np.minimum(s, d)
        outs = [cc.small_star(p["src"], p["dst"]) for p in cc.split(P, cc.partition_of(hi, P), src=hi, dst=lo)]
        new_src = np.concatenate([o[0] for o in outs])
        new_dst = np.concatenate([o[1] for o in outs])
        before = set(zip(src.tolist(), dst.tolist()))
        if before == set(zip(new_src.tolist(), new_dst.tolist())) and all(new_src > new_dst):
            return new_src, new_dst
        src, dst = new_src, new_dst


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("P", [1, 3])
def test_components_are_stars_around_the_minimum(seed, P):
    rng = np.random.default_rng(seed)
    n = 300
    u = rng.integers(0, n, 220).astype(np.int64)
    v = rng.integers(0, n, 220).astype(np.int64)
    # a long chain as well: the worst case for label propagation
    chain = np.arange(1000, 1040, dtype=np.int64)
    u, v = np.concatenate([u, chain[1:]]), np.concatenate([v, chain[:-1]])
    u, v = u[u != v], v[u != v]  # a self-loop alone is not a duplicate
    src, dst = _run(u, v, P)
    expected = _union_find_min(u, v)
    got = {**{int(d): int(d) for d in dst}, **{int(s): int(d) for s, d in zip(src, dst)}}
    assert got == expected


def test_star_edges_join_each_group_to_its_smallest_node():
    keys = np.array([5, 5, 5, 7, 9, 9], dtype=np.uint64)
    nodes = np.array([30, 10, 20, 40, 60, 50], dtype=np.int64)
    src, dst = cc.star_edges(keys, nodes)
    assert sorted(zip(src.tolist(), dst.tolist())) == [(20, 10), (30, 10), (60, 50)]


def test_fingerprint_is_order_independent():
    a = cc.fingerprint(np.array([3, 5, 9]), np.array([1, 2, 3]))
    b = cc.fingerprint(np.array([9, 3, 5]), np.array([3, 1, 2]))
    assert a == b and a != cc.fingerprint(np.array([3, 5, 9]), np.array([1, 2, 4]))
