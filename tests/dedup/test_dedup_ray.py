"""`dataprep dedup` end to end on the session's local Ray: real corpora, planted duplicates, determinism."""

from __future__ import annotations

import glob
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from dataprep.dataset import open_dataset
from dataprep.dedup.params import DedupParams
from dataprep.distributed.dedup import run_dedup
from tests.dedup.corpus import planted, sohu_pairs, write_docs


def kept_ids(url) -> list[str]:
    return sorted(open_dataset(str(url)).to_table(["id"]).column("id").to_pylist())


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
    summary = run_dedup(src, str(tmp_path / "out"), DedupParams())
    kept = set(kept_ids(tmp_path / "out"))
    identical = [i for i, r in enumerate(pairs) if r["sentence1"] == r["sentence2"]]
    assert len(identical) == 39
    by_text: dict[str, list[str]] = {}
    for doc_id, text in sohu_docs():
        by_text.setdefault(text, []).append(doc_id)
    for i in identical:
        assert f"sohu-{i:03d}-b" not in kept
        copies = by_text[pairs[i]["sentence1"]]  # some texts recur in other pairs too
        assert [c for c in copies if c in kept] == [min(copies)]  # one copy survives: the smallest id
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
    clusters = pa.concat_tables([pq.read_table(f) for f in sorted(glob.glob(str(tmp_path / "clusters" / "*.parquet")))])
    rows = {r["id"]: r for r in clusters.to_pylist()}
    assert set(rows) == copies | {c.split("zz-")[1].rsplit("-copy", 1)[0] for c in copies}
    for c in copies:
        assert rows[c]["cluster_id"] == c[3:-5] and not rows[c]["kept"]


def test_kept_ids_do_not_depend_on_workers_shards_or_partitions(ray_local, planted_corpus):
    docs, _, _, tmp = planted_corpus
    # Exact copies too, so both passes and multi-member components are exercised.
    docs = docs + [("zz-exact-" + d[0], d[1].upper()) for d in docs[:15]]
    results = []
    for shards, workers, partitions in [(1, 1, 1), (3, 2, None), (5, 2, 4), (4, 1, 3)]:
        src = write_docs(tmp / f"in-{shards}", docs, shards=shards)
        out = tmp / f"out-{shards}-{workers}-{partitions}"
        s = run_dedup(src, str(out), DedupParams(), workers=workers, partitions=partitions)
        results.append((kept_ids(out), s.stats["exact_removed"], s.stats["near_removed"], s.stats["cluster_sizes"]))
    assert all(r == results[0] for r in results[1:])
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


def test_empty_dataset_and_documents_without_tokens(ray_local, tmp_path):
    docs = [("a", "!!!"), ("b", "???"), ("c", "real words here")]
    src = write_docs(tmp_path / "in", docs, shards=1)
    s = run_dedup(src, str(tmp_path / "out"), DedupParams())
    # Punctuation-only texts normalize to the same empty text: exact duplicates, and the smaller id stays.
    assert kept_ids(tmp_path / "out") == ["a", "c"] and s.stats["without_shingles"] == 2


def test_cli_dedup_and_one_line_errors(ray_local, tmp_path):
    from dataprep.cli import app

    src = write_docs(tmp_path / "in", sohu_docs()[:200], shards=2)
    runner = CliRunner()
    result = runner.invoke(app, ["dedup", src, "-o", str(tmp_path / "out"), "--keep-clusters", str(tmp_path / "cl")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cl" / "_SUCCESS").exists()
    summary = json.loads((tmp_path / "cl" / "_SUCCESS").read_text())
    assert summary["documents_in"] == 200
    bad = runner.invoke(app, ["dedup", str(tmp_path / "missing"), "-o", str(tmp_path / "x")])
    assert bad.exit_code == 1 and "does not exist" in bad.output and "Traceback" not in bad.output
    bad = runner.invoke(app, ["dedup", src, "-o", str(tmp_path / "x"), "--threshold", "1.5"])
    assert bad.exit_code == 1 and "--threshold" in bad.output


def test_pipeline_step_ingest_then_dedup(ray_local, tmp_path):
    from dataprep.pipeline import load_config, run_pipeline

    src = tmp_path / "docs.jsonl"
    rows = [{"id": f"d{i:03d}", "text": r["sentence1"]} for i, r in enumerate(sohu_pairs()[:150])]
    rows += [{"id": f"z{i:03d}", "text": r["text"] + "!"} for i, r in enumerate(rows[:10])]  # punctuation-only change
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    config = tmp_path / "pipe.yaml"
    config.write_text(f"output: {tmp_path / 'run'}\nsteps:\n  - ingest: {{inputs: ['{src}']}}\n"
                      f"  - dedup: {{threshold: 0.8, keep_clusters: '{tmp_path / 'clusters'}'}}\n")
    written = run_pipeline(load_config(str(config)), log=lambda line: None)
    ds = open_dataset(written[-1])
    names = [s["name"] for s in ds.manifest.stats["stages"]]
    assert names[0] == "ingest" and names[-2:] == ["exact_dedup", "near_dedup"]
    assert ds.manifest.stats["dedup"]["exact_removed"] >= 10
    assert not {f"z{i:03d}" for i in range(10)} & set(kept_ids(written[-1]))
