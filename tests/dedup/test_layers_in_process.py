"""The dedup layers' pure functions chained without Ray on real text: the result is right and does not depend on
the partition count or the input's sharding."""

import pyarrow as pa

from dataprep.dedup.params import DedupParams
from tests.dedup.corpus import documents_table, letter_words, planted, word_groups
from tests.dedup.inprocess import cut, deduplicate, kept_ids


def test_planted_copies_go_and_the_result_does_not_depend_on_layout():
    docs, originals, copies = planted()
    docs = docs + [("zz-exact-" + d[0], d[1].upper()) for d in docs[:10]]  # exact copies too
    table = documents_table(docs)
    results = []
    for shards, partitions in [(1, 1), (3, 4), (5, 2)]:
        kept, clusters = deduplicate(cut(table, shards), DedupParams(), partitions)
        results.append((kept_ids(kept), clusters.sort_by([("cluster_id", "ascending"), ("id", "ascending")])))
    assert set(results[0][0]) == originals
    for ids, clusters in results[1:]:
        assert ids == results[0][0] and clusters.equals(results[0][1])
    rows = results[0][1].to_pylist()
    assert {r["id"] for r in rows if not r["kept"]} == copies | {d for d, _ in docs if d.startswith("zz-exact-")}
    assert all(r["cluster_id"] == r["id"] for r in rows if r["kept"])


def test_verify_only_splits_components_and_does_not_depend_on_layout():
    """--verify drops band pairs whose signatures disagree, so it can only split components: it keeps a superset.
    Its bucket centres are chosen by id, so its result does not depend on sharding or partitions either."""
    table = documents_table(word_groups(vocab=letter_words(400)))
    banded = kept_ids(deduplicate([table], DedupParams(threshold=0.5, exact=False), 3)[0])
    verified = [kept_ids(deduplicate(cut(table.take(list(order)), shards), DedupParams(threshold=0.5, exact=False,
                                                                                  verify=True), partitions)[0])
                for order, shards, partitions in [(range(120), 1, 1), (range(119, -1, -1), 3, 4), (range(120), 4, 2)]]
    assert verified[0] == verified[1] == verified[2]
    assert set(banded) < set(verified[0]) and 30 <= len(banded)


def test_empty_input_keeps_nothing_and_fails_nothing():
    kept, clusters = deduplicate([documents_table([])], DedupParams(), 3)
    assert kept_ids(kept) == [] and clusters.num_rows == 0 and isinstance(clusters, pa.Table)
