"""Bad input is named and counted, never fatal to a folder of good files; nothing good is lost (issue 9, items 2, 5, 6)."""

from __future__ import annotations

import gzip
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataprep.dataset import open_dataset
from tests.conftest import DEMO
from tests.safety.conftest import dataprep, one_line

BOM = b"\xef\xbb\xbf"


def _jsonl(records) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records)


def mixed_folder(root):
    """Good files, files with byte-order marks, and every kind of bad file, side by side."""
    root.mkdir()
    good = [{"id": f"good-{i}", "text": f"A good document number {i}, which must survive."} for i in range(3)]
    (root / "good.jsonl").write_bytes(_jsonl(good))
    (root / "bom.jsonl").write_bytes(BOM + _jsonl([{"id": "bom-1", "text": "The first line starts with a BOM."},
                                                   {"id": "bom-2", "text": "The second line does not."}]))
    (root / "bom_array.json").write_bytes(BOM + json.dumps([{"id": "arr-1", "text": "An array behind a BOM."},
                                                            {"id": "arr-2", "text": "Its second element."}]).encode())
    (root / "bom.txt").write_bytes(BOM + "纯文本文件，开头有字节顺序标记。".encode())
    (root / "utf16.txt").write_bytes("A UTF-16 text file with its byte-order mark.".encode("utf-16"))
    (root / "data[1].jsonl").write_bytes(_jsonl([{"id": "bracket", "text": "A file name with brackets."}]))
    # The bad ones.
    os.symlink(root / "nowhere.jsonl", root / "dangling.jsonl")
    (root / "not_gzip.jsonl.gz").write_bytes(_jsonl([{"id": "x", "text": "plain text wearing a .gz suffix"}]))
    pq.write_table(pa.table({"text": ["a parquet file named .jsonl"]}), root / "table.jsonl")
    (root / "binary.txt").write_bytes(bytes(range(256)) * 64)
    lines = _jsonl([{"id": f"gz-{i}", "text": f"gzip record {i} " * 30} for i in range(300)])
    blob = gzip.compress(lines)
    (root / "truncated.jsonl.gz").write_bytes(blob[: len(blob) // 2])
    return {r["id"] for r in good} | {"bom-1", "bom-2", "arr-1", "arr-2", "bom.txt", "utf16.txt", "bracket"}


def test_a_folder_mixing_bad_files_keeps_every_good_record(ray_local, tmp_path):
    expected = mixed_folder(tmp_path / "in")
    result = dataprep("ingest", tmp_path / "in", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "4 files skipped" in result.output and "damaged files read up to the damage: truncated.jsonl.gz" in result.output
    ds = open_dataset(str(tmp_path / "out"))
    table = ds.to_table()
    ids = set(table.column("id").to_pylist())
    assert expected <= ids
    assert any(i.startswith("gz-") for i in ids)
    texts = dict(zip(table.column("id").to_pylist(), table.column("text").to_pylist()))
    assert texts["bom.txt"] == "纯文本文件，开头有字节顺序标记。"
    assert texts["utf16.txt"] == "A UTF-16 text file with its byte-order mark."
    files = ds.manifest.stats["files"]
    assert files["unreadable_file"]["names"] == ["dangling.jsonl"]
    assert files["not_gzip"]["names"] == ["not_gzip.jsonl.gz"]
    assert sorted(files["format_mismatch"]["names"]) == ["binary.txt", "table.jsonl"]
    (truncated,) = files["truncated_file"]["names"]
    assert truncated.startswith("truncated.jsonl.gz") and "byte" in truncated and "records kept" in truncated


def test_strict_stops_at_the_first_bad_file_with_its_name(tmp_path, no_ray):
    mixed_folder(tmp_path / "in")
    result = dataprep("ingest", tmp_path / "in", "-o", tmp_path / "out", "--strict")
    assert result.exit_code == 1
    assert "binary.txt" in one_line(result)  # the first bad file in name order, found before any work starts
    assert not (tmp_path / "out").exists()


def test_a_file_named_like_a_glob_is_read_as_that_file(ray_local, tmp_path):
    (tmp_path / "data[1].jsonl").write_bytes(_jsonl([{"id": "literal", "text": "the bracketed file"}]))
    (tmp_path / "data1.jsonl").write_bytes(_jsonl([{"id": "impostor", "text": "what a glob would match"}]))
    result = dataprep("ingest", tmp_path / "data[1].jsonl", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert open_dataset(str(tmp_path / "out")).to_table().column("id").to_pylist() == ["literal"]


def test_an_output_inside_the_source_folder_is_never_read_back(ray_local, tmp_path):
    src = tmp_path / "corpus"
    src.mkdir()
    (src / "songci.jsonl").write_bytes((DEMO / "web" / "songci_zh.jsonl").read_bytes())
    for _ in range(2):
        result = dataprep("ingest", src, "-o", src / "out")
        assert result.exit_code == 0, result.output
        assert open_dataset(str(src / "out")).manifest.rows == 280


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-32"])
def test_utf16_and_utf32_jsonl_are_decoded_not_mojibake(ray_local, tmp_path, encoding):
    text = "UTF-16 和 UTF-32 的记录"
    data = _jsonl([{"id": "u", "text": text}]).decode()
    raw = ("\ufeff" + data).encode(encoding) if encoding == "utf-16-le" else data.encode(encoding)
    (tmp_path / "u.jsonl").write_bytes(raw)
    result = dataprep("ingest", tmp_path / "u.jsonl", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert open_dataset(str(tmp_path / "out")).to_table().column("text").to_pylist() == [text]
