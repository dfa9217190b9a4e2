"""Layer 1 on real text (no Ray): every document's rows, routed to the partition of their key."""

import numpy as np
import pyarrow as pa
import pytest

from dataprep.dedup import sign as sign_module
from dataprep.dedup.features import batch_features
from dataprep.dedup.nodes import node_keys, shard_of
from dataprep.dedup.params import DedupParams
from dataprep.dedup.partitions import concat, concat_ids, partition_of, partition_of_hash
from dataprep.dedup.sign import sign_shard
from tests.dedup.corpus import chinese, documents_table, english

DOCS = english()[:20] + chinese()[:10] + [("blank", "!!! ???"), ("empty", "")]


@pytest.mark.parametrize("verify", [False, True])
def test_rows_cover_every_document_in_the_partition_of_their_key(verify):
    params, partitions, shard = DedupParams(verify=verify), 3, 7
    table = documents_table(DOCS)
    signed = sign_shard(table, shard, params, partitions)
    features = batch_features(table.column("text"), params)
    nodes = node_keys(shard, np.arange(len(DOCS)))
    assert signed.without_tokens == 2 and len(signed.bands) == len(signed.exact) == len(signed.ids) == partitions
    for p in range(partitions):
        assert (partition_of_hash(signed.bands[p]["key"], partitions) == p).all()
        assert (partition_of_hash(signed.exact[p]["h1"], partitions) == p).all()
        assert (partition_of(signed.ids[p]["node"], partitions) == p).all()
    # Band rows: each document with a token once per band, with its own band keys (and signature for --verify).
    band_nodes, band_keys = concat(signed.bands, "node"), concat(signed.bands, "key", np.uint64)
    assert (shard_of(band_nodes) == shard).all()
    assert sorted(band_nodes.tolist()) == sorted(np.repeat(nodes[:-2], params.bands).tolist())
    for node in nodes[:3]:
        row = int(node - nodes[0])
        assert sorted(band_keys[band_nodes == node].tolist()) == sorted(features.band_keys[row].tolist())
    if verify:
        sigs = np.concatenate([b["sig"] for b in signed.bands])
        assert (sigs == features.signatures[band_nodes - nodes[0]]).all()
        assert concat_ids(signed.bands).to_pylist() == [DOCS[i][0] for i in (band_nodes - nodes[0]).tolist()]
    # Text hashes for documents with a token only; ids for every document.
    assert sorted(concat(signed.exact, "node").tolist()) == nodes[:-2].tolist()
    id_nodes = concat(signed.ids, "node")
    assert dict(zip(id_nodes.tolist(), concat_ids(signed.ids).to_pylist())) == {
        int(n): d for n, (d, _) in zip(nodes, DOCS)}


def test_batching_does_not_change_the_rows(monkeypatch):
    table = documents_table(DOCS)
    whole = sign_shard(table, 0, DedupParams(), 2)
    monkeypatch.setattr(sign_module, "BATCH_ROWS", 3)  # 11 batches instead of one
    batched = sign_shard(table, 0, DedupParams(), 2)
    for name in ("bands", "exact", "ids"):
        for a, b in zip(getattr(whole, name), getattr(batched, name)):
            assert a.keys() == b.keys()
            for column in a:
                assert (np.asarray(a[column]) == np.asarray(b[column])).all()


def test_an_empty_shard_gives_empty_pieces():
    signed = sign_shard(documents_table([]), 0, DedupParams(), 4)
    assert signed.bands == signed.exact == signed.ids == [{}] * 4 and signed.without_tokens == 0
    assert isinstance(concat_ids(signed.ids), pa.Array)
