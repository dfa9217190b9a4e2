"""Reading dataset folders. Only shards listed in `manifest.json` exist; a folder without one is refused."""

from __future__ import annotations

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

    def read_shard(self, shard: ShardInfo | int, columns: Optional[Sequence[str]] = None) -> pa.Table:
        """One shard as a table; local shards are memory-mapped rather than read."""
        return read_shard_file(self.shard_url(shard), columns)

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


def read_shard_file(url: str, columns: Optional[Sequence[str]] = None) -> pa.Table:
    fs, path = storage.resolve(url)
    if storage.is_local(fs):
        source = pa.memory_map(path, "r")
    else:
        source = pa.py_buffer(fs.cat_file(path))
    table = pa.ipc.open_file(source).read_all()
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
