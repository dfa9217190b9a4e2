"""Input files: expanding globs and folders, naming sources, and cutting files into byte-range units."""

from __future__ import annotations

import gzip
import io
import lzma
import posixpath
import zlib
from typing import Iterable, Iterator

from dataprep.dataset import storage
from dataprep.errors import UserError

CHUNK_BYTES = 32 << 20  # one work unit reads at most this much of an uncompressed line-oriented file
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst")
# Errors that mean "the stream is damaged here", whatever the compression.
DAMAGED_STREAM = (EOFError, gzip.BadGzipFile, zlib.error, lzma.LZMAError, OSError)


def expand_inputs(sources: Iterable[str]) -> list[tuple[str, str]]:
    """(url, source-name) for every input file, sorted, so the unit list never depends on listing order.

    Folders are walked recursively (hidden files skipped); globs are expanded. The source name is the path
    relative to the inputs' common folder, which keeps derived ids stable when the corpus is moved.
    """
    found: list[tuple[str, str]] = []
    for src in sources:
        fs, path = storage.resolve(src)
        protocol = fs.protocol[0] if isinstance(fs.protocol, (list, tuple)) else fs.protocol
        prefix = "" if protocol in ("file", "local") else f"{protocol}://"
        if any(ch in path for ch in "*?["):
            paths = sorted(fs.glob(path))
        elif fs.isdir(path):
            paths = sorted(p for p in fs.find(path) if not _hidden(posixpath.relpath(p, path)))
        elif fs.exists(path):
            paths = [path]
        else:
            raise UserError(f"input {src} does not exist")
        found.extend((prefix + p, p) for p in paths if not fs.isdir(p))
    if not found:
        raise UserError(f"no input files found in {', '.join(sources)}")
    plain = [p for _, p in found]
    common = posixpath.dirname(plain[0]) if len(plain) == 1 else posixpath.commonpath(plain)
    if len(plain) > 1 and common in plain:
        common = posixpath.dirname(common)
    seen: dict[str, str] = {}
    out = []
    for url, p in sorted(found):
        name = posixpath.relpath(p, common) if common else p
        if name in seen:
            continue
        seen[name] = url
        out.append((url, name))
    return out


def _hidden(relative: str) -> bool:
    """Hidden below the folder being walked (the folder itself may sit under a hidden parent such as ~/.cache)."""
    return any(part.startswith(".") for part in relative.split("/"))


def describe(url: str) -> dict:
    """What identifies an input file's content for a job key: size plus mtime or the store's ETag."""
    fs, path = storage.resolve(url)
    info = fs.info(path)
    stamp = info.get("mtime") or info.get("LastModified") or info.get("ETag") or info.get("etag")
    return {"url": url, "bytes": info.get("size"), "version": str(stamp) if stamp is not None else None}


def is_compressed(url: str) -> bool:
    return url.endswith(COMPRESSED_SUFFIXES)


def byte_ranges(url: str, chunk: int | None = None) -> list[tuple[int, int]]:
    """Byte ranges [start, end) covering a file; compressed files are one range (they cannot be split)."""
    chunk = chunk or CHUNK_BYTES
    fs, path = storage.resolve(url)
    size = fs.size(path)
    if is_compressed(url) or size <= chunk:
        return [(0, -1)]
    return [(start, min(start + chunk, size)) for start in range(0, size, chunk)]


def open_input(url: str):
    """A binary stream of the file's content, decompressing by suffix."""
    import fsspec

    stream = fsspec.open(url, "rb", compression="infer").open()
    if url.endswith(".zst"):
        stream = io.BufferedReader(stream)  # zstandard's reader has no readline()
    return stream


def iter_lines(url: str, start: int, end: int) -> Iterator[tuple[int, bytes]]:
    """(offset, line) for every line that begins inside [start, end); end -1 means to the end of file.

    A line belongs to the range holding its first byte, so adjacent ranges neither lose nor repeat one.
    Offsets are positions in the decompressed stream. A truncated compressed file raises EOFError
    after its last complete line.
    """
    handle = open_input(url)
    try:
        offset = 0
        if start > 0:
            handle.seek(start - 1)
            offset = start - 1
            skipped = handle.readline()  # the tail of the line that began before `start`
            offset += len(skipped)
        while end < 0 or offset < end:
            line = handle.readline()
            if not line:
                break
            yield offset, line
            offset += len(line)
    finally:
        handle.close()
