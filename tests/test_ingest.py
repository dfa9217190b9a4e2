"""`dataprep ingest` on real and crafted files, through Ray Data on the session's embedded Ray."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataprep.dataset import open_dataset
from dataprep.ingest import IngestJob
from dataprep.sources import files
from dataprep.sources import units
from dataprep.steps import Ingest
from tests.conftest import DEMO, ingest

GOOD = [
    {"id": "good-1", "text": "The first good record, between bad ones.", "url": "https://example.org/1"},
    {"id": 2, "text": "Second good record with an integer id."},
    {"text": "A third good record without an id gets one from its source and offset."},
    {"id": "good-4", "text": "好的中文记录也必须保留下来。", "lang": "zh"},
]


def crafted_jsonl(path):
    """Every kind of bad line, interleaved with good ones."""
    lines = [json.dumps(GOOD[0]).encode()]
    lines += [
        b'{"id": "bad-json", "text": "unterminated',
        b'["an", "array", "not", "an", "object"]',
        b'{"id": "no-text", "body": "the text field is missing"}',
        b'{"id": "wrong-type", "text": 12345}',
        b'{"id": {"nested": 1}, "text": "an id that is an object"}',
        b'{"id": "empty", "text": "  \\n  "}',
        '{"id": "bad-utf8", "text": "café"}'.encode("latin-1"),
        b'{"id": "binary", "text": "\\u0000\\u0001\\u0002\\u0003 binary \\u0004\\u0005"}',
        json.dumps({"id": "huge", "text": "a" * 2_000_000}).encode(),  # over the 1M-character default
    ]
    lines.insert(3, json.dumps(GOOD[1]).encode())
    lines.insert(6, json.dumps(GOOD[2]).encode())
    lines.append(json.dumps(GOOD[3], ensure_ascii=False).encode())
    path.write_bytes(b"\n".join(lines) + b"\n\n")
    return path


def test_bad_records_are_counted_and_good_ones_kept(ray_local, tmp_path):
    src = crafted_jsonl(tmp_path / "crafted.jsonl")
    # A truncated gzip: the records before the damage are kept, the damage is counted.
    full = b"".join(json.dumps({"id": f"gz-{i}", "text": f"gzip record number {i} " * 20}).encode() + b"\n"
                    for i in range(200))
    blob = gzip.compress(full)
    (tmp_path / "truncated.jsonl.gz").write_bytes(blob[: len(blob) // 2])
    manifest, _ = ingest([str(src), str(tmp_path / "truncated.jsonl.gz")], str(tmp_path / "out"))
    table = open_dataset(str(tmp_path / "out")).to_table()
    ids = table.column("id").to_pylist()
    for good in ("good-1", "2", "good-4", "crafted.jsonl#"):
        assert any(i.startswith(good) for i in ids), good
    gz_kept = [i for i in ids if i.startswith("gz-")]
    assert 0 < len(gz_kept) < 200 and gz_kept == [f"gz-{i}" for i in range(len(gz_kept))]
    stage = manifest.stats["stages"][0]
    assert stage["name"] == "ingest"
    assert stage["dropped"] == {
        "binary_content": 1,
        "empty_text": 1,
        "invalid_json": 1,
        "invalid_utf8": 1,
        "missing_text": 1,
        "not_an_object": 1,
        "too_large": 1,
        "truncated_file": 1,
        "wrong_type": 2,
    }
    assert stage["rows_out"] == 4 + len(gz_kept) == table.num_rows
    row = table.filter(pa.compute.equal(table["id"], "good-1")).to_pylist()[0]
    assert row["url"] == "https://example.org/1" and row["lang"] == "en" and row["source"] == "crafted.jsonl"
    zh = table.filter(pa.compute.equal(table["id"], "good-4")).to_pylist()[0]
    assert zh["lang"] == "zh"


def test_ids_are_stable_and_derived_from_source_and_offset(ray_local, tmp_path):
    (tmp_path / "a").mkdir()
    src = crafted_jsonl(tmp_path / "a" / "crafted.jsonl")
    ingest([str(src)], str(tmp_path / "one"))
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (moved / "crafted.jsonl").write_bytes(src.read_bytes())
    ingest([str(moved / "crafted.jsonl")], str(tmp_path / "two"))
    first = open_dataset(str(tmp_path / "one")).to_table().column("id").to_pylist()
    second = open_dataset(str(tmp_path / "two")).to_table().column("id").to_pylist()
    assert first == second
    derived = [i for i in first if i.startswith("crafted.jsonl#")]
    offset = int(derived[0].split("#")[1])
    assert json.loads(src.read_bytes()[offset:].split(b"\n")[0])["text"] == GOOD[2]["text"]


def test_same_shards_whatever_the_worker_count_and_rerun_reuses_them(ray_local, tmp_path, monkeypatch):
    monkeypatch.setattr(units, "MIN_UNIT_BYTES", 200_000)  # several units per file
    inputs = [str(DEMO / "web")]
    m1, _ = ingest(inputs, str(tmp_path / "w1"), workers=1)
    m2, _ = ingest(inputs, str(tmp_path / "w2"), workers=2)
    assert len(m1.shards) > 5
    assert [s.sha256 for s in m1.shards] == [s.sha256 for s in m2.shards]
    assert m1.stats == m2.stats

    shard_files = sorted((tmp_path / "w1" / "shards").glob("*.arrow"))
    before = {p: p.stat().st_mtime_ns for p in shard_files}
    manifest_bytes = (tmp_path / "w1" / "manifest.json").read_bytes()
    m3, reused = ingest(inputs, str(tmp_path / "w1"), workers=2)
    assert reused == len(m1.shards)
    assert {p: p.stat().st_mtime_ns for p in shard_files} == before
    assert (tmp_path / "w1" / "manifest.json").read_bytes() == manifest_bytes


def test_chunked_jsonl_neither_loses_nor_repeats_lines(ray_local, tmp_path, monkeypatch):
    whole, _ = ingest([str(DEMO / "web" / "c4_demo.jsonl")], str(tmp_path / "whole"))
    monkeypatch.setattr(units, "MIN_UNIT_BYTES", 50_001)  # boundaries fall mid-line
    cut, _ = ingest([str(DEMO / "web" / "c4_demo.jsonl")], str(tmp_path / "cut"))
    assert len(cut.shards) > 10
    a = open_dataset(str(tmp_path / "whole")).to_table()
    b = open_dataset(str(tmp_path / "cut")).to_table()
    assert a.num_rows == b.num_rows == 300
    assert a.column("id").to_pylist() == b.column("id").to_pylist()
    assert a.column("text").equals(b.column("text"))


def test_plain_text_by_file_and_by_blank_line_blocks(ray_local, tmp_path, monkeypatch):
    shakespeare = (DEMO.parent.parent / "tests" / "data" / "tinyshakespeare_head.txt")
    if not shakespeare.exists():
        pytest.skip("tests/data/tinyshakespeare_head.txt missing")
    text = shakespeare.read_text(encoding="utf-8")
    expected_blocks = [b.strip("\n") for b in text.split("\n\n") if b.strip()]
    by_file, _ = ingest([str(shakespeare)], str(tmp_path / "file"), fmt="text")
    assert by_file.rows == 1
    monkeypatch.setattr(units, "MIN_UNIT_BYTES", 3_001)
    blocks, _ = ingest([str(shakespeare)], str(tmp_path / "blocks"), fmt="text", text_split="blank-line")
    assert len(blocks.shards) > 3
    got = open_dataset(str(tmp_path / "blocks")).to_table().column("text").to_pylist()
    assert got == expected_blocks


def test_parquet_ingest_counts_wrong_types(ray_local, tmp_path):
    table = pa.table({"id": ["p1", "p2", "p3"], "text": ["Parquet text one.", "", "Parquet text three."],
                      "score": [0.1, 0.2, 0.3]})
    pq.write_table(table, tmp_path / "docs.parquet", row_group_size=2)
    manifest, _ = ingest([str(tmp_path / "docs.parquet")], str(tmp_path / "out"))
    assert len(manifest.shards) == 2  # one unit per row group
    out = open_dataset(str(tmp_path / "out")).to_table()
    assert out.column("id").to_pylist() == ["p1", "p3"]
    meta = json.loads(out.column("meta")[0].as_py())  # the record's other fields, plus language ID's
    assert meta["score"] == 0.1 and meta["lang_raw"] == "en" and set(meta) == {"score", "lang_raw", "lang_score",
                                                                                  "lang_top3"}
    assert manifest.stats["stages"][0]["dropped"] == {"empty_text": 1}


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".xz", ".zst"])
def test_compressed_inputs_are_decompressed(ray_local, tmp_path, suffix):
    import fsspec

    raw = (DEMO / "web" / "songci_zh.jsonl").read_bytes()
    path = tmp_path / f"songci.jsonl{suffix}"
    with fsspec.open(str(path), "wb", compression="infer") as handle:
        handle.write(raw)
    assert path.read_bytes() != raw  # really compressed
    manifest, _ = ingest([str(path)], str(tmp_path / "out"))
    assert manifest.rows == 280 and manifest.stats["stages"][0]["dropped"] == {}


def test_json_array_of_documents(ray_local, tmp_path):
    (tmp_path / "docs.json").write_text(json.dumps(GOOD[:2] + ["not an object"], indent=2), encoding="utf-8")
    manifest, _ = ingest([str(tmp_path / "docs.json")], str(tmp_path / "out"))
    ids = open_dataset(str(tmp_path / "out")).to_table().column("id").to_pylist()
    assert ids == ["good-1", "2"]
    assert manifest.stats["stages"][0]["dropped"] == {"not_an_object": 1}


def test_folder_under_a_hidden_parent_is_walked(ray_local, tmp_path):
    corpus = tmp_path / ".cache" / "corpus"
    corpus.mkdir(parents=True)
    (corpus / "songci.jsonl").write_bytes((DEMO / "web" / "songci_zh.jsonl").read_bytes())
    (corpus / ".hidden.jsonl").write_text('{"text": "a hidden file inside the folder is skipped"}\n')
    manifest, _ = ingest([str(corpus)], str(tmp_path / "out"))
    assert manifest.rows == 280


def test_text_field_option_and_long_non_text_fields(ray_local, tmp_path):
    rows = [{"id": "a", "body": "The body field holds the text.", "html": "<p>" + "x" * 300_000 + "</p>"}]
    (tmp_path / "docs.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    manifest, _ = ingest([str(tmp_path / "docs.jsonl")], str(tmp_path / "out"), text_field="body",
                                    max_chars=1000)
    table = open_dataset(str(tmp_path / "out")).to_table()
    assert table.column("text").to_pylist() == ["The body field holds the text."]


def test_an_input_edited_in_place_is_not_served_from_old_shards(ray_local, tmp_path):
    src = tmp_path / "docs.jsonl"
    src.write_text(json.dumps({"id": "a", "text": "first version"}) + "\n")
    ingest([str(src)], str(tmp_path / "out"))
    import os
    import time

    stat = src.stat()
    src.write_text(json.dumps({"id": "a", "text": "other version"}) + "\n")  # same size
    os.utime(src, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert src.stat().st_size == stat.st_size
    _, reused = ingest([str(src)], str(tmp_path / "out"))
    assert reused == 0
    assert open_dataset(str(tmp_path / "out")).to_table().column("text").to_pylist() == ["other version"]


class ExplodingIngestJob(IngestJob):
    def process(self, unit):
        raise RuntimeError("killed mid-job")


def test_a_rerun_that_dies_leaves_no_stale_manifest(ray_local, tmp_path):
    """Rewriting a folder first withdraws its manifest: a crash mid-way leaves an unfinished folder, not a mix."""
    from dataprep.distributed.executor import run_sharded_job
    from dataprep.errors import UserError

    ingest([str(DEMO / "web" / "songci_zh.jsonl")], str(tmp_path / "out"))
    with pytest.raises(Exception, match="killed mid-job"):
        run_sharded_job(ExplodingIngestJob(Ingest(inputs=[str(DEMO / "web" / "c4_demo.jsonl")]), str(tmp_path / "out")))
    with pytest.raises(UserError, match="unfinished job"):
        open_dataset(str(tmp_path / "out"))
