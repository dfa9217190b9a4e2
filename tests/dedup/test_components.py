"""Connected components by large-star / small-star over hash partitions (no Ray), checked against union-find."""

import numpy as np
import pytest

from dataprep.dedup import components as cc
from tests.dedup.inprocess import converged_stars


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
    """The driver's rounds in this process: converged stars as (member, minimum) edges."""
    stars = converged_stars([[piece] for piece in cc.at_both_ends(P, u, v)], P)
    src = np.concatenate([piece["src"] for pieces in stars for piece in pieces])
    dst = np.concatenate([piece["dst"] for pieces in stars for piece in pieces])
    return src[src > dst], dst[src > dst]


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


def test_fingerprint_is_order_independent():
    a = cc.fingerprint(np.array([3, 5, 9]), np.array([1, 2, 3]))
    b = cc.fingerprint(np.array([9, 3, 5]), np.array([3, 1, 2]))
    assert a == b and a != cc.fingerprint(np.array([3, 5, 9]), np.array([1, 2, 4]))
