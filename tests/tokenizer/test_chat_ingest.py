"""`ingest --format dialogue|preference`: good records kept, bad ones counted under a reason and skipped."""

from __future__ import annotations

import gzip
import json

from dataprep.dataset import open_dataset
from tests.conftest import DATA, ingest


def write_lines(path, lines):
    path.write_bytes(b"".join((line if isinstance(line, bytes) else line.encode()) + b"\n" for line in lines))
    return str(path)


def test_dialogue_ingest_counts_bad_records(ray_local, tmp_path):
    real = (DATA / "tokenizer" / "kdconv_zh_messages30.jsonl").read_text().splitlines()[:3]
    bad = [
        "{not json",
        json.dumps({"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]}),
        json.dumps({"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "y"}]}),
        json.dumps({"messages": [{"role": "user", "content": "only a question"}]}),
        json.dumps({"messages": [{"role": "user"}]}),
        json.dumps(["a list"]),
        b"\xff\xfe broken utf-8",
    ]
    src = write_lines(tmp_path / "chat.jsonl", real[:2] + bad + real[2:])
    manifest, _ = ingest([src], str(tmp_path / "out"), fmt="dialogue")
    stage = manifest.stats["stages"][-1]
    assert stage["rows_in"] == 10 and stage["rows_out"] == 3
    assert stage["dropped"] == {"invalid_json": 1, "bad_role": 1, "empty_content": 1, "no_assistant_turn": 1,
                                "missing_field": 1, "not_an_object": 1, "invalid_utf8": 1}
    table = open_dataset(str(tmp_path / "out"), kind="dialogues").to_table()
    assert table["id"].to_pylist() == [json.loads(r)["id"] for r in real]
    assert set(table["lang"].to_pylist()) == {"zh"}


def test_alpaca_json_array_reads_as_dialogues(ray_local, tmp_path):
    manifest, _ = ingest([str(DATA / "tokenizer" / "alpaca_en_head40.json")], str(tmp_path / "a"),
                                    fmt="dialogue")
    rows = open_dataset(str(tmp_path / "a")).to_table().to_pylist()
    assert manifest.rows == 40 and rows[0]["messages"][0]["content"] == "Describe a process of making crepes."
    assert [m["role"] for m in rows[0]["messages"]] == ["user", "assistant"]


def test_truncated_hh_rlhf_keeps_records_before_the_damage(ray_local, tmp_path):
    data = (DATA / "tokenizer" / "hh-rlhf_harmless-base_test_head150.jsonl.gz").read_bytes()
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(data[: len(data) // 2])
    manifest, _ = ingest([str(cut)], str(tmp_path / "p"), fmt="preference")
    dropped = manifest.stats["stages"][-1]["dropped"]
    assert dropped.get("truncated_file") == 1 and 30 < manifest.rows < 150
    full = gzip.decompress(data).decode().splitlines()
    first = open_dataset(str(tmp_path / "p"), kind="preferences").to_table().slice(0, 1).to_pylist()[0]
    assert first["prompt"][0]["content"] == json.loads(full[0])["chosen"].split("\n\nAssistant:")[0].split("Human: ")[1]
