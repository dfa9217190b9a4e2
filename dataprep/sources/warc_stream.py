"""WARC files as work units: record offsets found once at planning, units cut at record boundaries.

A `.warc.gz` written one gzip member per record (warcio, Common Crawl) can start reading at any member
whose content begins with `WARC/`, so planning scans the members once (decompressing, nothing parsed) and
groups them into units of about `units.unit_bytes` compressed bytes. A gzip file that is one stream is one
member, hence one unit. An uncompressed `.warc` is cut at record headers, found by following
Content-Length from header to header (never by searching payloads for `WARC/1.`). Other compressions are
one unit. The last unit of a file always runs to its end, so damage after the last good member is read,
and counted, by that unit.
"""

from __future__ import annotations

import gzip
import io
import zlib
from contextlib import contextmanager
from typing import Iterator

from warcio.exceptions import ArchiveLoadFailed

from dataprep.dataset import storage
from dataprep.sources import files
from dataprep.sources.units import group_offsets

SCAN_STEP = 16 << 10  # compressed bytes fed per call: bounds the copy of zlib's unused_data per member
# Errors meaning "the archive is damaged from here on" (warcio raises ArchiveLoadFailed on garbage headers).
DAMAGED_ARCHIVE = files.DAMAGED_STREAM + (ArchiveLoadFailed,)


def plan(url: str, source: str, fmt: str, unit_size: int, **extra) -> list[dict]:
    """Units of one WARC/WET/WAT file: {format, url, source, layout, start, end, **extra}."""
    layout, offsets = _layout_and_offsets(url)
    ranges = group_offsets(offsets, unit_size) if offsets else [(0, -1)]
    return [
        {"format": fmt, "url": url, "source": source, "layout": layout, "start": s, "end": e, **extra}
        for s, e in ranges
    ]


def _layout_and_offsets(url: str) -> tuple[str, list[int]]:
    fs, path = storage.resolve(url)
    if url.endswith(".gz"):
        with fs.open(path, "rb") as handle:
            return "gzip", gzip_record_members(handle)
    if files.is_compressed(url):
        return "stream", []
    with fs.open(path, "rb") as handle:
        return "plain", plain_record_offsets(handle)


def gzip_record_members(handle) -> list[int]:
    """Compressed offsets of the gzip members whose content starts a WARC record; stops at damage."""
    starts: list[int] = []
    offset = 0  # compressed offset of data[pos]
    data, pos = b"", 0
    decomp, head, member_start = None, b"", 0
    while True:
        if pos >= len(data):
            data, pos = handle.read(1 << 20), 0
            if not data:
                break
        if decomp is None:
            decomp, head, member_start = zlib.decompressobj(31), b"", offset
        piece = memoryview(data)[pos : pos + SCAN_STEP]
        try:
            out = decomp.decompress(piece)
        except zlib.error:
            break
        if len(head) < 5:
            head += out[:5]
            if len(head) >= 5 and head.startswith(b"WARC/"):
                starts.append(member_start)
        used = len(piece) - len(decomp.unused_data) if decomp.eof else len(piece)
        pos += used
        offset += used
        if decomp.eof:
            decomp = None
    return starts


def plain_record_offsets(handle) -> list[int]:
    """Offsets of the records of an uncompressed WARC, header to header by Content-Length."""
    starts: list[int] = []
    handle.seek(0, io.SEEK_END)
    size = handle.tell()
    pos = 0
    while pos < size:
        handle.seek(pos)
        first = handle.readline()
        if not first.startswith(b"WARC/"):
            break
        starts.append(pos)
        header, length = len(first), None
        while True:
            line = handle.readline()
            header += len(line)
            if not line or not line.strip():
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                try:
                    length = int(value.strip())
                except ValueError:
                    length = None
        if length is None:
            break
        pos += header + length
        handle.seek(pos)
        while True:  # the blank lines that close a record
            line = handle.readline()
            if not line or line.strip():
                break
            pos += len(line)
    return starts


class _Window(io.RawIOBase):
    """Reads [start, end) of a seekable binary file (end -1: to its end)."""

    def __init__(self, handle, start: int, end: int):
        self.handle = handle
        handle.seek(start)
        self.left = None if end < 0 else end - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        size = len(buffer) if self.left is None else min(len(buffer), self.left)
        if size <= 0:
            return 0
        data = self.handle.read(size)
        buffer[: len(data)] = data
        if self.left is not None:
            self.left -= len(data)
        return len(data)


@contextmanager
def open_unit(unit: dict) -> Iterator:
    """The unit's bytes as an uncompressed WARC stream."""
    if unit["layout"] == "stream":
        with files.open_input(unit["url"]) as stream:
            yield stream
        return
    fs, path = storage.resolve(unit["url"])
    with fs.open(path, "rb") as handle:
        window = io.BufferedReader(_Window(handle, unit["start"], unit["end"]), 1 << 20)
        if unit["layout"] == "gzip":
            with gzip.GzipFile(fileobj=window) as stream:  # reads member after member
                yield stream
        else:
            yield window


def iter_records(unit: dict) -> Iterator:
    """warcio records of the unit, in order. Damage raises one of DAMAGED_ARCHIVE after the good records, with
    `compressed_offset`: about where in the file it broke (the reader's position, read-ahead included)."""
    from warcio.archiveiterator import ArchiveIterator

    with open_unit(unit) as stream:
        try:
            yield from ArchiveIterator(stream)
        except DAMAGED_ARCHIVE as exc:
            raw = getattr(stream, "raw", None) or getattr(getattr(stream, "fileobj", None), "raw", None)
            handle = getattr(raw, "handle", None)
            exc.compressed_offset = handle.tell() if handle is not None else None
            raise


def damaged(unit: dict, builder, exc: BaseException) -> None:
    """A damaged archive: the records before the damage are kept; the file is named with where it broke."""
    fs, path = storage.resolve(unit["url"])
    where = getattr(exc, "compressed_offset", None)
    at = f"broke near compressed byte {where:,} of {fs.size(path):,}" if where is not None else "damaged"
    builder.reject("truncated_file")
    builder.skip_file("truncated_file", f"{unit['source']} ({at}, {builder.kept:,} records kept)")


def unwrap(uri: str | None) -> str | None:
    """`<http://x/>` -> `http://x/` (some writers wrap target URIs and record ids in angle brackets)."""
    if uri is None:
        return None
    uri = uri.strip()
    return uri[1:-1] if uri.startswith("<") and uri.endswith(">") else uri


def block_truncated(record) -> bool:
    """Whether the record's block ended before its Content-Length (read it to the end first)."""
    while record.raw_stream.read(1 << 16):
        pass
    return getattr(record.raw_stream, "limit", 0) > 0
