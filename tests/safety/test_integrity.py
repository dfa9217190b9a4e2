"""Shards are checked against the manifest on read; `dataprep verify` checks a whole dataset (issue 9, item 3)."""

from __future__ import annotations

import json

import pytest

from tests.safety.conftest import dataprep, flip_byte, one_line


@pytest.fixture(scope="module")
def tiny_tokenizer(small_docs, tmp_path_factory) -> str:
    prefix = tmp_path_factory.mktemp("tok") / "en"
    result = dataprep("tokenizer", small_docs, "-o", prefix, "--vocab-size", "400")
    assert result.exit_code == 0, result.output
    return f"{prefix}.model"


def _first_shard(ds) -> str:
    return json.loads((ds / "manifest.json").read_text())["shards"][0]["path"]


@pytest.mark.parametrize("command", ["export", "dedup", "tokenize"])
def test_a_flipped_byte_stops_every_reader_with_the_shard_named(docs_copy, tiny_tokenizer, tmp_path, command):
    shard = _first_shard(docs_copy)
    flip_byte(docs_copy / shard)
    if command == "export":
        args = ["export", docs_copy, "-o", tmp_path / "x.jsonl"]
    elif command == "dedup":
        args = ["dedup", docs_copy, "-o", tmp_path / "d"]
    else:
        args = ["tokenize", docs_copy, "--tokenizer", tiny_tokenizer, "-o", tmp_path / "t"]
    result = dataprep(*args)
    assert result.exit_code == 1
    line = one_line(result)
    assert shard in line and "sha256" in line


def test_a_truncated_shard_is_named_on_open(docs_copy, tmp_path):
    shard = docs_copy / _first_shard(docs_copy)
    shard.write_bytes(shard.read_bytes()[:-100])
    result = dataprep("export", docs_copy, "-o", tmp_path / "x.jsonl")
    assert result.exit_code == 1
    line = one_line(result)
    assert _first_shard(docs_copy) in line and "bytes" in line


def test_verify_passes_a_good_dataset_and_names_every_bad_shard(docs_copy):
    good = dataprep("verify", docs_copy)
    assert good.exit_code == 0, good.output
    assert "2 shards" in good.output and "ok" in good.output
    manifest = json.loads((docs_copy / "manifest.json").read_text())
    for shard in manifest["shards"]:
        flip_byte(docs_copy / shard["path"], at=0.3)
    bad = dataprep("verify", docs_copy)
    assert bad.exit_code == 1
    for shard in manifest["shards"]:
        assert shard["path"] in bad.output


def test_verify_checks_rows_against_the_manifest(docs_copy):
    """A manifest whose row count disagrees with a shard whose bytes are intact is caught too."""
    path = docs_copy / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["shards"][0]["rows"] += 1
    path.write_text(json.dumps(manifest))
    result = dataprep("verify", docs_copy)
    assert result.exit_code == 1
    assert "rows" in result.output and manifest["shards"][0]["path"] in result.output
