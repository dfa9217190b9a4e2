"""One output lifecycle for every job: never write into an input, never over a user's files, commit atomically,
and a re-run into an existing output ends byte-identical to a clean run (issue 9, item 1 and 12)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess

import pytest

from tests.conftest import DEMO
from tests.safety.conftest import dataprep, flip_byte, one_line, snapshot


def test_dedup_into_its_own_input_is_refused_and_the_input_is_untouched(docs_copy):
    before = snapshot(docs_copy)
    result = dataprep("dedup", docs_copy, "-o", docs_copy)
    assert result.exit_code == 1
    assert "is the input" in one_line(result)
    assert snapshot(docs_copy) == before


@pytest.mark.parametrize("where", ["inside", "containing"])
def test_output_inside_or_containing_an_input_dataset_is_refused(docs_copy, where):
    out = docs_copy / "sub" if where == "inside" else docs_copy.parent
    before = snapshot(docs_copy)
    result = dataprep("dedup", docs_copy, "-o", out)
    assert result.exit_code == 1
    assert where in one_line(result)
    assert snapshot(docs_copy) == before


def test_a_users_folder_is_never_overwritten(tmp_path):
    user = tmp_path / "mine"
    (user / "shards").mkdir(parents=True)
    (user / "shards" / "part-00000.arrow").write_bytes(b"my own precious file")
    (user / "notes.txt").write_text("not a dataset")
    before = snapshot(user)
    result = dataprep("ingest", DEMO / "web" / "songci_zh.jsonl", "-o", user)
    assert result.exit_code == 1
    line = one_line(result)
    assert str(user) in line and "not a dataset" in line
    assert snapshot(user) == before


def test_rerun_with_other_parameters_ends_byte_identical_to_a_clean_run(ray_local, tmp_path):
    """The first run writes 3 shards; the second (other inputs, other --max-chars) writes 1: the orphans go."""
    out, clean = tmp_path / "out", tmp_path / "clean"
    first = dataprep("ingest", DEMO / "web" / "songci_zh.jsonl", DEMO / "web" / "bad_records.jsonl",
                     DEMO / "web" / "sohu_news_zh.jsonl", "-o", out)
    assert first.exit_code == 0, first.output
    assert len(list((out / "shards").glob("*.arrow"))) == 3
    args = [DEMO / "web" / "songci_zh.jsonl", "--max-chars", "500"]
    again = dataprep("ingest", *args, "-o", out)
    assert again.exit_code == 0, again.output
    assert dataprep("ingest", *args, "-o", clean).exit_code == 0
    assert snapshot(out) == snapshot(clean)


def test_secondary_outputs_are_checked_against_inputs_and_the_main_output(docs_copy, tmp_path):
    for target in (docs_copy, tmp_path / "out"):
        result = dataprep("dedup", docs_copy, "-o", tmp_path / "out", "--keep-clusters", target)
        assert result.exit_code == 1, result.output
        assert "--keep-clusters" in one_line(result)


def test_a_second_job_writing_the_same_output_is_refused(docs_copy, tmp_path):
    from dataprep.dataset.lifecycle import Lease

    out = tmp_path / "out"
    sleeper = subprocess.Popen(["sleep", "60"])  # a live process on this host holds the lease
    try:
        Lease(str(out), job_key="other-job", pid=sleeper.pid, host=socket.gethostname()).acquire()
        result = dataprep("dedup", docs_copy, "-o", out)
        assert result.exit_code == 1
        line = one_line(result)
        assert "being written" in line and str(sleeper.pid) in line
    finally:
        sleeper.kill()
        sleeper.wait()
    # Once that process is gone its lease is stale and the job goes ahead.
    result = dataprep("dedup", docs_copy, "-o", out)
    assert result.exit_code == 0, result.output
    assert not any(p.name.startswith(".lease") for p in out.iterdir())


def test_tokenizer_never_replaces_a_file_it_did_not_write(docs_copy, tmp_path):
    mine = tmp_path / "tok.model"
    mine.write_bytes(b"a user's model")
    result = dataprep("tokenizer", docs_copy, "-o", tmp_path / "tok", "--vocab-size", "400")
    assert result.exit_code == 1
    assert "--overwrite" in one_line(result)
    assert mine.read_bytes() == b"a user's model"


def test_export_never_replaces_a_users_file_and_leaves_nothing_on_failure(docs_copy, tmp_path):
    target = tmp_path / "rows.jsonl"
    target.write_text("user data\n")
    result = dataprep("export", docs_copy, "-o", target)
    assert result.exit_code == 1 and "--overwrite" in one_line(result)
    assert target.read_text() == "user data\n"
    assert dataprep("export", docs_copy, "-o", target, "--overwrite").exit_code == 0
    assert len(target.read_text().splitlines()) == 82  # 80 C4 pages and the 2 good bad_records lines

    # A damaged last shard makes the export fail after the first shard was streamed: nothing is left behind.
    manifest = json.loads((docs_copy / "manifest.json").read_text())
    flip_byte(docs_copy / manifest["shards"][-1]["path"])
    fresh = tmp_path / "fresh.parquet"
    result = dataprep("export", docs_copy, "-o", fresh)
    assert result.exit_code == 1
    assert manifest["shards"][-1]["path"] in one_line(result)
    assert sorted(os.listdir(tmp_path)) == sorted(["docs", "rows.jsonl"])
