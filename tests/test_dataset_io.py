"""Dataset folders: writer/reader round trips on local disk, memory:// and a real S3 server; the manifest as commit point."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import fsspec
import pyarrow as pa
import pytest

from dataprep.dataset import (
    DOCUMENTS,
    open_dataset,
    shard_name,
    tokens_schema,
    write_dataset,
)
from dataprep.dataset.manifest import Manifest
from dataprep.dataset.stats import Stats
from dataprep.dataset.writer import ShardWriter, serialize_table
from dataprep.errors import UserError
from tests.conftest import DEMO


def real_documents(n: int = 40) -> pa.Table:
    lines = (DEMO / "web" / "c4_demo.jsonl").read_text(encoding="utf-8").splitlines()[:n]
    texts = [json.loads(line)["text"] for line in lines]
    return pa.table(
        {
            "id": [f"c4_demo.jsonl#{i}" for i in range(n)],
            "text": texts,
            "source": ["c4_demo.jsonl"] * n,
            "url": [None] * n,
            "lang": ["en"] * n,
            "meta": [None] * n,
        },
        schema=DOCUMENTS,
    )


def check_round_trip(url: str) -> None:
    table = real_documents()
    parts = [table.slice(0, 25), table.slice(25)]
    manifest = write_dataset(url, "documents", parts, provenance={"test": True})
    ds = open_dataset(url)
    assert ds.kind == "documents"
    assert [s.rows for s in ds.shards] == [25, 15]
    assert manifest.rows == 40
    assert ds.to_table().equals(table)
    assert ds.schema == DOCUMENTS
    fs, root = fsspec.core.url_to_fs(url)
    for shard in ds.shards:
        data = fs.cat_file(f"{root}/{shard.path}")
        assert len(data) == shard.bytes
        import hashlib

        assert hashlib.sha256(data).hexdigest() == shard.sha256


def test_round_trip_local(tmp_path):
    check_round_trip(str(tmp_path / "ds"))


def test_round_trip_memory():
    check_round_trip("memory://datasets/roundtrip")


def test_round_trip_s3(s3_settings):
    check_round_trip("s3://datasets/roundtrip")
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    names = sorted(p.rsplit("/", 1)[-1] for p in fs.find("datasets/roundtrip"))
    assert "manifest.json" in names and "part-00000.arrow" in names


def test_token_shards_are_uncompressed_and_memory_mappable(tmp_path):
    tokens = pa.array([[5, 6, 7, 2], [9, 2]], type=pa.large_list(pa.uint16()))
    table = pa.table({"id": ["a", "b"], "tokens": tokens})
    manifest = write_dataset(str(tmp_path / "tok"), "tokens", [table])
    assert manifest.tokens == 6 and manifest.shards[0].tokens == 6
    ds = open_dataset(str(tmp_path / "tok"), kind="tokens")
    flat = ds.read_shard(0).column("tokens").chunks[0].values.to_numpy(zero_copy_only=True)
    assert flat.tolist() == [5, 6, 7, 2, 9, 2]
    assert tokens_schema(70000).field("tokens").type == pa.large_list(pa.uint32())


def test_folder_without_manifest_is_refused(tmp_path):
    (tmp_path / "half" / "shards").mkdir(parents=True)
    with pytest.raises(UserError, match="unfinished job"):
        open_dataset(str(tmp_path / "half"))
    with pytest.raises(UserError, match="does not exist"):
        open_dataset(str(tmp_path / "nowhere"))
    write_dataset(str(tmp_path / "docs"), "documents", [real_documents(3)])
    with pytest.raises(UserError, match="needs tokens"):
        open_dataset(str(tmp_path / "docs"), kind="tokens")


def test_writer_killed_before_commit_leaves_no_dataset(tmp_path):
    """A process that dies after writing its shards but before the manifest leaves nothing readable."""
    out = tmp_path / "killed"
    script = textwrap.dedent(
        f"""
        import os, pyarrow as pa
        from dataprep.dataset import ShardWriter, DOCUMENTS
        from dataprep.dataset.stats import Stats
        from tests.test_dataset_io import real_documents
        writer = ShardWriter({str(out)!r}, "documents", DOCUMENTS, job_key="k")
        writer.write(0, real_documents(10), Stats())
        writer.write(1, real_documents(5), Stats())
        os.kill(os.getpid(), 9)  # die hard: no cleanup, no manifest
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=str(DEMO.parent.parent), capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()
    assert (out / shard_name(0)).exists()
    with pytest.raises(UserError, match="unfinished job"):
        open_dataset(str(out))


def test_manifest_write_is_atomic_on_local_disk(tmp_path):
    """The manifest appears whole through a rename: no temporary file stays, and a reader never sees a prefix."""
    write_dataset(str(tmp_path / "ds"), "documents", [real_documents(5)])
    leftovers = [p.name for p in (tmp_path / "ds").iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    Manifest.from_bytes((tmp_path / "ds" / "manifest.json").read_bytes())


def test_shard_bytes_depend_only_on_rows():
    table = real_documents(30)
    rechunked = pa.concat_tables([table.slice(0, 7), table.slice(7, 11), table.slice(18)])
    assert serialize_table(table, "zstd") == serialize_table(rechunked, "zstd")


def test_receipt_allows_reuse_only_for_the_same_job_and_intact_shard(tmp_path):
    table = real_documents(8)
    writer = ShardWriter(str(tmp_path / "ds"), "documents", DOCUMENTS, job_key="job-a")
    result = writer.write(0, table, Stats())
    assert writer.completed(0).info == result.info
    assert ShardWriter(str(tmp_path / "ds"), "documents", DOCUMENTS, job_key="job-b").completed(0) is None
    path = tmp_path / "ds" / shard_name(0)
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF  # corrupt one byte: the shard no longer matches its receipt
    path.write_bytes(bytes(data))
    assert writer.completed(0) is None


def test_wrong_schema_is_refused(tmp_path):
    bad = pa.table({"id": ["a"], "body": ["no text column"]})
    with pytest.raises(ValueError, match="missing column 'text'"):
        write_dataset(str(tmp_path / "bad"), "documents", [bad])


def test_clusters_kind_round_trips_and_checks_its_schema(tmp_path):
    from dataprep.dataset import CLUSTERS

    rows = pa.table({"id": ["a", "b"], "cluster_id": ["a", "a"], "kept": [True, False]}, schema=CLUSTERS)
    write_dataset(str(tmp_path / "cl"), "clusters", [rows])
    ds = open_dataset(str(tmp_path / "cl"), kind="clusters")
    assert ds.kind == "clusters" and ds.to_table().equals(rows)
    bad = pa.table({"id": ["a"], "cluster_id": ["a"], "kept": [1]})
    with pytest.raises(ValueError, match="column 'kept' has type int64, expected bool"):
        write_dataset(str(tmp_path / "bad"), "clusters", [bad])


def test_a_job_may_not_write_into_its_input(tmp_path):
    from dataprep.dataset.lifecycle import OutputTarget

    with pytest.raises(UserError, match="is the input dataset"):
        OutputTarget(str(tmp_path / "ds") + "/").check([str(tmp_path / "ds")])
    OutputTarget(str(tmp_path / "other")).check([str(tmp_path / "ds")])
