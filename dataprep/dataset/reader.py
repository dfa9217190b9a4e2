"""Reading dataset folders. Only shards listed in `manifest.json` exist; a folder without one is refused.

Every shard is checked against the manifest: its size when it is opened, its sha256 when it is read whole
(hashed from the same bytes that are read: a local shard's memory map, a remote shard's download). A damaged
or replaced shard is one line naming it, never rows that silently differ from what the job wrote.
"""

from __future__ import annotations

import hashlib
from typing import Iterator, Optional, Sequence

import pyarrow as pa

from dataprep.dataset import storage
from dataprep.dataset.manifest import MANIFEST_NAME, Manifest, ShardInfo
from dataprep.errors import UserError


class Dataset:
    def __init__(self, url: str, manifest: Manifest):
        self.url = str(url)
        self.manifest = manifest

    @property
    def kind(self) -> str:
        return self.manifest.kind

    @property
    def shards(self) -> list[ShardInfo]:
        return self.manifest.shards

    @property
    def schema(self) -> pa.Schema:
        return self.manifest.schema()

    def shard_url(self, shard: ShardInfo | int) -> str:
        if isinstance(shard, int):
            shard = self.shards[shard]
        return storage.join(self.url.rstrip("/"), shard.path)

    def read_shard(self, shard: ShardInfo | int, columns: Optional[Sequence[str]] = None, verify: bool = True) -> pa.Table:
        """One shard as a table (local shards are memory-mapped), checked against the manifest."""
        if isinstance(shard, int):
            shard = self.shards[shard]
        return read_shard_file(self.shard_url(shard), columns, expect=shard, verify=verify, dataset=self.url)

    def iter_tables(self, columns: Optional[Sequence[str]] = None) -> Iterator[pa.Table]:
        for shard in self.shards:
            yield self.read_shard(shard, columns)

    def to_table(self, columns: Optional[Sequence[str]] = None) -> pa.Table:
        tables = list(self.iter_tables(columns))
        if not tables:
            schema = self.schema
            if columns:
                schema = pa.schema([schema.field(c) for c in columns])
            return schema.empty_table()
        return pa.concat_tables(tables)

    def manifest_sha256(self) -> str:
        return self.manifest.sha256()


class DamagedShard(UserError):
    """A shard whose bytes are not the ones its manifest lists."""


def _check_size(actual: int, expect: ShardInfo, dataset: str) -> None:
    if actual != expect.bytes:
        raise DamagedShard(f"shard {expect.path} of {dataset} has {actual:,} bytes but its manifest lists "
                           f"{expect.bytes:,}; the dataset is damaged: re-run the job that wrote it or restore the file")


def check_sha256(data, expect: ShardInfo, dataset: str) -> None:
    digest = hashlib.sha256(data).hexdigest()
    if digest != expect.sha256:
        raise DamagedShard(f"shard {expect.path} of {dataset} does not match its manifest (sha256 {digest[:12]}, "
                           f"expected {expect.sha256[:12]}); re-run the job that wrote it or restore the file")


def read_shard_file(url: str, columns: Optional[Sequence[str]] = None, expect: Optional[ShardInfo] = None,
                    verify: bool = True, dataset: str = "") -> pa.Table:
    """Read an Arrow IPC shard; with `expect`, check its size and (when `verify`) its sha256 first."""
    fs, path = storage.resolve(url)
    try:
        # A local shard is memory-mapped: the buffer is a view of the file, hashed and read without a copy.
        data = pa.memory_map(path, "r").read_buffer() if storage.is_local(fs) else pa.py_buffer(fs.cat_file(path))
    except FileNotFoundError:
        where = f" of {dataset}" if dataset else ""
        raise DamagedShard(f"shard {expect.path if expect else url}{where} is missing; the dataset is incomplete") from None
    if expect is not None:
        _check_size(data.size, expect, dataset or url)
        if verify:
            check_sha256(memoryview(data), expect, dataset or url)
    table = pa.ipc.open_file(data).read_all()
    return table.select(list(columns)) if columns else table


def open_dataset(url: str, kind: Optional[str | Sequence[str]] = None) -> Dataset:
    """Open a committed dataset; raise UserError (one line) when it is missing, unfinished or of another kind."""
    try:
        fs, root = storage.resolve(url)
    except (ValueError, ImportError) as exc:
        raise UserError(f"cannot open {url}: {exc}") from None
    manifest_path = storage.join(root, MANIFEST_NAME)
    try:
        data = fs.cat_file(manifest_path)
    except FileNotFoundError:
        if fs.exists(root):
            raise UserError(
                f"{url} has no {MANIFEST_NAME}: it is an unfinished job or not a dataset; re-run the job that writes it"
            ) from None
        raise UserError(f"dataset {url} does not exist") from None
    except IsADirectoryError:
        raise UserError(f"{url} is not a dataset folder") from None
    try:
        manifest = Manifest.from_bytes(data)
    except ValueError as exc:
        first = str(exc).splitlines()[0]
        raise UserError(f"{manifest_path} is not a valid manifest ({first})") from None
    if kind is not None:
        allowed = [kind] if isinstance(kind, str) else list(kind)
        if manifest.kind not in allowed:
            raise UserError(f"{url} is a {manifest.kind} dataset; this command needs {' or '.join(allowed)}")
    return Dataset(url, manifest)
