"""fsspec access to dataset folders: resolving URLs and committing files atomically."""

from __future__ import annotations

import hashlib
import os
import uuid

import fsspec
from fsspec.implementations.local import LocalFileSystem


def resolve(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """Return the filesystem and the path inside it for any fsspec URL or local path."""
    fs, path = fsspec.core.url_to_fs(str(url))
    return fs, path.rstrip("/") if path != "/" else path


def is_local(fs: fsspec.AbstractFileSystem) -> bool:
    return isinstance(fs, LocalFileSystem)


def join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *parts])


def atomic_write(fs: fsspec.AbstractFileSystem, path: str, data: bytes) -> None:
    """Write `data` so that readers see either nothing or the whole file.

    Local disk: write a temporary file beside the target, fsync, rename over it.
    Object stores: one PUT, which the store makes visible atomically.
    """
    if is_local(fs):
        directory = os.path.dirname(path)
        os.makedirs(directory, exist_ok=True)
        tmp = os.path.join(directory, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    else:
        fs.pipe_file(path, data)


def sha256_file(fs: fsspec.AbstractFileSystem, path: str, chunk: int = 8 << 20) -> str:
    digest = hashlib.sha256()
    with fs.open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
