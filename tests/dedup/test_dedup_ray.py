"""`dataprep dedup` end to end on the session's local Ray: real corpora, planted duplicates, determinism."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
from typer.testing import CliRunner

from dataprep.dataset import CLUSTERS, open_dataset
from dataprep.errors import UserError
from dataprep.dedup.params import DedupParams
from dataprep.distributed.dedup import run_dedup
from tests.dedup.corpus import planted, sohu_pairs, word_groups, write_docs


def kept_ids(url) -> list[str]:
    return sorted(open_dataset(str(url)).to_table(["id"]).column("id").to_pylist())


def check_clusters(url, src, out) -> dict[str, dict]:
    """The `clusters` dataset at `url` against the dedup output `out` of input `src`; returns its rows by id."""
    ds = open_dataset(str(url), kind="clusters")
    assert ds.schema == CLUSTERS
    for table in ds.iter_tables():  # every shard sorted by (cluster_id, id)
        keys = list(zip(table.column("cluster_id").to_pylist(), table.column("id").to_pylist()))
        assert keys == sorted(keys)
    rows = ds.to_table().to_pylist()
    by_id = {r["id"]: r for r in rows}
    assert len(by_id) == len(rows)  # each document in at most one cluster
    members: dict[str, list[dict]] = {}
    for r in rows:
        members.setdefault(r["cluster_id"], []).append(r)
    for cluster_id, group in members.items():
        kept = [r for r in group if r["kept"]]
        # Exactly one kept row per cluster: the cluster's smallest id, which names the cluster.
        assert len(group) >= 2 and len(kept) == 1
        assert kept[0]["id"] == cluster_id == min(r["id"] for r in group)
    all_ids = set(kept_ids(src))
    survivors = set(kept_ids(out))
    assert set(members) <= survivors  # every cluster's kept document is in the output
    assert {r["id"] for r in rows if not r["kept"]} == all_ids - survivors  # and exactly the removed ones are not
    m = ds.manifest
    stage = {s["name"]: s for s in m.stats["stages"]}["dedup_clusters"]
    assert stage["rows_in"] == len(all_ids) and stage["rows_out"] == len(rows) == m.rows
    section = m.stats["clusters"]
    sizes = Counter(len(g) for g in members.values())
    assert section["cluster_sizes"] == {str(k): sizes[k] for k in sorted(sizes)}
    assert section["clusters"] == section["kept"] == len(members)
    assert section["removed"] == len(all_ids - survivors) == section["exact_removed"] + section["near_removed"]
    assert m.provenance["inputs"][0]["manifest_sha256"] == open_dataset(str(src)).manifest_sha256()
    assert m.provenance["config"] == open_dataset(str(out)).manifest.provenance["config"]
    return by_id


def sohu_docs():
    docs = []
    for i, r in enumerate(sohu_pairs()):
        docs += [(f"sohu-{i:03d}-a", r["sentence1"]), (f"sohu-{i:03d}-b", r["sentence2"])]
    return docs


@pytest.fixture(scope="module")
def planted_corpus(tmp_path_factory):
    docs, originals, copies = planted()
    return docs, originals, copies, tmp_path_factory.mktemp("dedup")


def test_byte_identical_sohu_pairs_are_removed(ray_local, tmp_path):
    pairs = sohu_pairs()
    src = write_docs(tmp_path / "in", sohu_docs(), shards=3)
    summary = run_dedup(src, str(tmp_path / "out"), DedupParams(), keep_clusters=str(tmp_path / "clusters"))
    kept = set(kept_ids(tmp_path / "out"))
    clusters = check_clusters(tmp_path / "clusters", src, tmp_path / "out")
    identical = [i for i, r in enumerate(pairs) if r["sentence1"] == r["sentence2"]]
    assert len(identical) == 39
    by_text: dict[str, list[str]] = {}
    for doc_id, text in sohu_docs():
        by_text.setdefault(text, []).append(doc_id)
    for i in identical:
        assert f"sohu-{i:03d}-b" not in kept
        copies = by_text[pairs[i]["sentence1"]]  # some texts recur in other pairs too
        assert [c for c in copies if c in kept] == [min(copies)]  # one copy survives: the smallest id
        # ... and the removed copy sits, not kept, in the cluster of that survivor.
        assert clusters[f"sohu-{i:03d}-b"]["kept"] is False
        assert clusters[f"sohu-{i:03d}-b"]["cluster_id"] == clusters[min(copies)]["cluster_id"] == min(copies)
    # Unrelated pairs (label 0) are all kept.
    for i, r in enumerate(pairs):
        if r["label"] == 0 and r["sentence1"] != r["sentence2"]:
            assert {f"sohu-{i:03d}-a", f"sohu-{i:03d}-b"} <= kept
    assert summary.stats["exact_removed"] >= 39
    stages = {s["name"]: s for s in summary.manifest.stats["stages"]}
    assert stages["exact_dedup"]["dropped"]["exact_duplicate"] == summary.stats["exact_removed"]
    assert stages["exact_dedup"]["rows_in"] == 1000 and stages["write"]["rows_in"] == 1000  # input history kept


def test_planted_near_duplicates_removed_and_distinct_documents_kept(ray_local, planted_corpus, tmp_path):
    docs, originals, copies, _ = planted_corpus
    src = write_docs(tmp_path / "in", docs, shards=3)
    summary = run_dedup(src, str(tmp_path / "out"), DedupParams(), keep_clusters=str(tmp_path / "clusters"))
    kept = set(kept_ids(tmp_path / "out"))
    assert kept == originals  # every copy gone (en words/header/footer, zh characters/header/footer), no original lost
    dedup = open_dataset(str(tmp_path / "out")).manifest.stats["dedup"]
    assert dedup["near_removed"] == len(copies) and dedup["exact_removed"] == 0
    assert dedup["cluster_sizes"] == {"2": len(copies)}
    assert (dedup["bands"], dedup["rows"]) == (9, 13)
    rows = check_clusters(tmp_path / "clusters", src, tmp_path / "out")
    assert set(rows) == copies | {c.split("zz-")[1].rsplit("-copy", 1)[0] for c in copies}
    for c in copies:  # each planted copy, not kept, in the cluster of its original, which is kept
        original = c[3:-5]
        assert rows[c]["cluster_id"] == original and rows[c]["kept"] is False
        assert rows[original] == {"id": original, "cluster_id": original, "kept": True}
    section = open_dataset(str(tmp_path / "clusters")).manifest.stats["clusters"]
    assert section["cluster_sizes"] == {"2": len(copies)} and section["near_removed"] == len(copies)


def test_kept_ids_do_not_depend_on_workers_shards_or_partitions(ray_local, planted_corpus):
    docs, _, _, tmp = planted_corpus
    # Exact copies too, so both passes and multi-member components are exercised.
    docs = docs + [("zz-exact-" + d[0], d[1].upper()) for d in docs[:15]]
    results, cluster_rows = [], []
    for shards, workers, partitions in [(1, 1, 1), (3, 2, None), (5, 2, 4), (4, 1, 3)]:
        src = write_docs(tmp / f"in-{shards}", docs, shards=shards)
        out = tmp / f"out-{shards}-{workers}-{partitions}"
        clusters = tmp / f"clusters-{shards}-{workers}-{partitions}"
        s = run_dedup(src, str(out), DedupParams(), workers=workers, partitions=partitions, keep_clusters=str(clusters))
        results.append((kept_ids(out), s.stats["exact_removed"], s.stats["near_removed"], s.stats["cluster_sizes"]))
        cluster_rows.append(sorted(check_clusters(clusters, src, out).values(), key=lambda r: r["id"]))
        assert len(open_dataset(str(clusters)).shards) == s.stats["partitions"]  # one shard per choose partition
    assert all(r == results[0] for r in results[1:])
    assert all(c == cluster_rows[0] for c in cluster_rows[1:])  # the same rows for any layout
    assert results[0][1] == 15


def test_rerun_reuses_shards_and_output_is_byte_identical(ray_local, tmp_path):
    docs = sohu_docs()[:300]
    src = write_docs(tmp_path / "in", docs, shards=2)
    first = run_dedup(src, str(tmp_path / "a"), DedupParams(), workers=1, partitions=1)
    again = run_dedup(src, str(tmp_path / "a"), DedupParams())
    other = run_dedup(src, str(tmp_path / "b"), DedupParams(), workers=2, partitions=3)
    assert again.skipped == 2 and first.skipped == 0
    sha = lambda m: [s.sha256 for s in m.shards]  # noqa: E731
    assert sha(first.manifest) == sha(again.manifest) == sha(other.manifest)
    assert first.manifest.stats == other.manifest.stats  # manifest stats hold no partition-dependent numbers
    # Clusters shards: the same partitions give the same bytes, whatever the worker count.
    run_dedup(src, str(tmp_path / "c"), DedupParams(), workers=1, partitions=3, keep_clusters=str(tmp_path / "cl1"))
    run_dedup(src, str(tmp_path / "d"), DedupParams(), workers=2, partitions=3, keep_clusters=str(tmp_path / "cl2"))
    one, two = open_dataset(str(tmp_path / "cl1")).manifest, open_dataset(str(tmp_path / "cl2")).manifest
    assert sha(one) == sha(two) and one.stats == two.stats and one.rows > 0
    # ... and the default partition count depends on the input only, so the same bytes for any worker count.
    e = run_dedup(src, str(tmp_path / "e"), DedupParams(), workers=1, keep_clusters=str(tmp_path / "cl3"))
    f = run_dedup(src, str(tmp_path / "f"), DedupParams(), workers=2, keep_clusters=str(tmp_path / "cl4"))
    three, four = open_dataset(str(tmp_path / "cl3")).manifest, open_dataset(str(tmp_path / "cl4")).manifest
    assert e.stats["partitions"] == f.stats["partitions"] == 2  # one per input shard
    assert sha(three) == sha(four) and three.stats == four.stats and three.rows == one.rows
    assert sha(e.manifest) == sha(f.manifest) == sha(first.manifest)


def test_interrupted_run_leaves_no_readable_clusters_dataset(ray_local, tmp_path, monkeypatch):
    from dataprep.distributed import dedup as module

    src = write_docs(tmp_path / "in", sohu_docs()[:200], shards=2)
    run_dedup(src, str(tmp_path / "out"), DedupParams(), keep_clusters=str(tmp_path / "cl"))
    assert open_dataset(str(tmp_path / "cl")).manifest.rows > 0

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed before the commit")

    monkeypatch.setattr(module, "_commit_clusters", killed)
    with pytest.raises(KeyboardInterrupt):
        run_dedup(src, str(tmp_path / "out2"), DedupParams(threshold=0.5), keep_clusters=str(tmp_path / "cl"))
    with pytest.raises(UserError, match="unfinished job"):  # the earlier manifest was withdrawn first
        open_dataset(str(tmp_path / "cl"))
    with pytest.raises(UserError, match="folder of its own"):
        run_dedup(src, str(tmp_path / "out3"), DedupParams(), keep_clusters=str(tmp_path / "out3"))


def test_no_exact_counts_identical_texts_as_near(ray_local, tmp_path):
    docs = [("b", "the same text repeated here for the test"), ("a", "The same text, repeated here for the test!"),
            ("c", "something else entirely different words")]
    src = write_docs(tmp_path / "in", docs, shards=1)
    s = run_dedup(src, str(tmp_path / "out"), DedupParams(exact=False))
    assert kept_ids(tmp_path / "out") == ["a", "c"]
    assert s.stats["near_removed"] == 1 and s.stats["exact_removed"] == 0
    names = [st["name"] for st in s.manifest.stats["stages"]]
    assert "exact_dedup" not in names and "near_dedup" in names


def test_verify_keeps_results_on_planted_corpus(ray_local, planted_corpus, tmp_path):
    docs, originals, _, _ = planted_corpus
    src = write_docs(tmp_path / "in", docs, shards=2)
    run_dedup(src, str(tmp_path / "out"), DedupParams(verify=True))
    assert set(kept_ids(tmp_path / "out")) == originals


def test_verify_kept_ids_do_not_depend_on_input_sharding(ray_local, tmp_path):
    docs = word_groups()
    params = DedupParams(verify=True, exact=False)
    results = []
    for shards, seed in [(1, None), (3, 0), (4, 1)]:
        rows = sorted(docs) if seed is None else random.Random(seed).sample(docs, len(docs))
        src = write_docs(tmp_path / f"in-{shards}", rows, shards=shards)
        run_dedup(src, str(tmp_path / f"out-{shards}"), params)
        results.append(kept_ids(tmp_path / f"out-{shards}"))
    assert results[0] == results[1] == results[2]
    assert 30 <= len(results[0]) < len(docs)


def test_empty_dataset_and_documents_without_tokens(ray_local, tmp_path):
    docs = [("a", "!!!"), ("b", "???"), ("c", "real words here"), ("d", "😀😀😀 🎉🎉"), ("e", "👍"),
            ("f", "★★★★★ ☆"), ("g", "Real words, here!"), ("h", "👍"), ("i", "")]
    src = write_docs(tmp_path / "in", docs, shards=2)
    s = run_dedup(src, str(tmp_path / "out"), DedupParams())
    # Texts without a word character all normalize to the empty text, yet are not copies of each other: all kept
    # (even two identical "👍"); the real exact duplicate "g" of "c" goes.
    assert kept_ids(tmp_path / "out") == ["a", "b", "c", "d", "e", "f", "h", "i"]
    assert s.stats["without_shingles"] == 7 and s.stats["exact_removed"] == 1


def test_cli_dedup_and_one_line_errors(ray_local, tmp_path):
    from dataprep.cli import app

    src = write_docs(tmp_path / "in", sohu_docs()[:200], shards=2)
    runner = CliRunner()
    result = runner.invoke(app, ["dedup", src, "-o", str(tmp_path / "out"), "--keep-clusters", str(tmp_path / "cl")])
    assert result.exit_code == 0, result.output
    check_clusters(tmp_path / "cl", src, tmp_path / "out")
    # The clusters dataset works with the ordinary tools.
    result = runner.invoke(app, ["stats", str(tmp_path / "cl"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["kind"] == "clusters" and summary["lang"] == {} and summary["length"] == {}
    assert summary["stages"][0]["name"] == "dedup_clusters" and summary["stages"][0]["rows_in"] == 200
    assert summary["clusters"]["rows"] == summary["rows"] > 0
    result = runner.invoke(app, ["stats", str(tmp_path / "cl")], env={"COLUMNS": "160"})
    assert result.exit_code == 0 and "dedup_clusters" in result.stdout and "cluster size" in result.stdout
    result = runner.invoke(app, ["export", str(tmp_path / "cl"), "-o", str(tmp_path / "cl.jsonl")])
    assert result.exit_code == 0, result.output
    exported = [json.loads(line) for line in (tmp_path / "cl.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(exported) == summary["rows"] and set(exported[0]) == {"id", "cluster_id", "kept"}
    assert sum(r["kept"] for r in exported) == summary["clusters"]["clusters"]
    bad = runner.invoke(app, ["dedup", str(tmp_path / "missing"), "-o", str(tmp_path / "x")])
    assert bad.exit_code == 1 and "does not exist" in bad.output and "Traceback" not in bad.output
    bad = runner.invoke(app, ["dedup", src, "-o", str(tmp_path / "x"), "--threshold", "1.5"])
    assert bad.exit_code == 2 and "--threshold" in bad.output


def test_pipeline_step_ingest_then_dedup(ray_local, tmp_path):
    from dataprep.pipeline import load_config, run_config

    src = tmp_path / "docs.jsonl"
    rows = [{"id": f"d{i:03d}", "text": r["sentence1"]} for i, r in enumerate(sohu_pairs()[:150])]
    rows += [{"id": f"z{i:03d}", "text": r["text"] + "!"} for i, r in enumerate(rows[:10])]  # punctuation-only change
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    config = tmp_path / "pipe.yaml"
    config.write_text(f"output: {tmp_path / 'run'}\nsteps:\n  - ingest: {{inputs: ['{src}']}}\n"
                      f"  - dedup: {{threshold: 0.8, keep_clusters: '{tmp_path / 'clusters'}'}}\n")
    written = run_config(load_config(str(config)), log=lambda line: None, progress=False)
    ds = open_dataset(written[-1])
    names = [s["name"] for s in ds.manifest.stats["stages"]]
    assert names[0] == "ingest" and names[-2:] == ["exact_dedup", "near_dedup"]
    assert ds.manifest.stats["dedup"]["exact_removed"] >= 10
    assert not {f"z{i:03d}" for i in range(10)} & set(kept_ids(written[-1]))


def test_documents_output_refuses_the_input_and_withdraws_an_earlier_manifest(ray_local, tmp_path, monkeypatch):
    from dataprep.distributed.dedup import OutputDataset

    src = write_docs(tmp_path / "in", sohu_docs()[:100], shards=2)
    with pytest.raises(UserError, match="is the input dataset"):
        run_dedup(src, src, DedupParams())
    assert open_dataset(src).manifest.rows == 100  # the input is untouched
    run_dedup(src, str(tmp_path / "out"), DedupParams())

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed before the commit")

    monkeypatch.setattr(OutputDataset, "commit", killed)
    with pytest.raises(KeyboardInterrupt):
        run_dedup(src, str(tmp_path / "out"), DedupParams(threshold=0.5))
    with pytest.raises(UserError, match="unfinished job"):  # no old manifest over new shards
        open_dataset(str(tmp_path / "out"))
