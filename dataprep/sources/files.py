"""Input files: expanding folders and globs, naming sources, probing each file, and reading it as a byte stream.

A file is probed once, at planning time, before any work: one that cannot be read, whose compression suffix
lies (`not_gzip`), or whose first bytes say it is something else (Parquet, gzip, zstd or WARC bytes under a text
format, or binary content) is skipped with a reason and its name; with `--strict` it stops the job instead.
A byte-order mark is honoured: UTF-8's is stripped, UTF-16 and UTF-32 files are decoded (never mojibake).
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import io
import lzma
import os
import posixpath
import zlib
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Sequence

from dataprep.dataset import storage
from dataprep.dataset.location import relation
from dataprep.errors import UserError

COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst")
# Errors that mean "the stream is damaged here", whatever the compression.
DAMAGED_STREAM = (EOFError, gzip.BadGzipFile, zlib.error, lzma.LZMAError, OSError)
COMPRESSION_MAGIC = {".gz": (b"\x1f\x8b", "not_gzip"), ".bz2": (b"BZh", "not_bz2"),
                     ".xz": (b"\xfd7zXZ\x00", "not_xz"), ".zst": (b"\x28\xb5\x2f\xfd", "not_zstd")}
# Bytes that identify a format, checked on the (decompressed) head of a file.
KNOWN_MAGIC = {b"PAR1": "parquet", b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd", b"WARC/": "warc"}
BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
HEAD_BYTES = 8192


@dataclass(frozen=True)
class InputFile:
    """One input file as the planner sees it: where it is, its name in ids and stats, its text encoding."""

    url: str
    name: str
    size: int
    encoding: str = "utf-8"  # utf-8-sig: a BOM to skip; utf-16-*/utf-32-*: transcoded to UTF-8 on reading

    @property
    def transcoded(self) -> bool:
        return self.encoding.startswith(("utf-16", "utf-32"))


def expand_inputs(sources: Iterable[str], exclude: Sequence[str] = ()) -> list[tuple[str, str]]:
    """(url, source-name) for every input file, sorted, so the unit list never depends on listing order.

    An existing path is taken as it is, even when its name holds `[`, `*` or `?`; other names with those
    characters are globs. Folders are walked recursively (hidden files skipped), leaving out anything inside
    `exclude` (a job's own output folder may sit inside its source folder). The source name is the path
    relative to the inputs' common folder, which keeps derived ids stable when the corpus is moved.
    """
    found: list[tuple[str, str]] = []
    for src in sources:
        fs, path = storage.resolve(src)
        protocol = fs.protocol[0] if isinstance(fs.protocol, (list, tuple)) else fs.protocol
        prefix = "" if protocol in ("file", "local") else f"{protocol}://"
        if fs.isdir(path):
            paths = sorted(p for p in fs.find(path) if not _hidden(posixpath.relpath(p, path)))
        elif _exists(fs, path):
            paths = [path]
        elif any(ch in path for ch in "*?["):
            paths = sorted(fs.glob(path))
        else:
            raise UserError(f"input {src} does not exist")
        found.extend((prefix + p, p) for p in paths if not fs.isdir(p))
    found = [(url, p) for url, p in found if not any(relation(url, out) in ("equal", "inside") for out in exclude)]
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


def _exists(fs, path: str) -> bool:
    """A local broken symlink exists too: it is an input the user named, to be reported, not ignored."""
    return os.path.lexists(path) if storage.is_local(fs) else fs.exists(path)


def _hidden(relative: str) -> bool:
    """Hidden below the folder being walked (the folder itself may sit under a hidden parent such as ~/.cache)."""
    return any(part.startswith(".") for part in relative.split("/"))


def describe(url: str) -> dict:
    """What identifies an input file's content for a job key: size plus mtime or the store's ETag."""
    fs, path = storage.resolve(url)
    try:
        info = fs.info(path)
    except (FileNotFoundError, OSError):
        return {"url": url, "bytes": None, "version": None}
    stamp = info.get("mtime") or info.get("LastModified") or info.get("ETag") or info.get("etag")
    return {"url": url, "bytes": info.get("size"), "version": str(stamp) if stamp is not None else None}


def compression_of(url: str) -> Optional[str]:
    return next((s for s in COMPRESSED_SUFFIXES if url.endswith(s)), None)


def is_compressed(url: str) -> bool:
    return compression_of(url) is not None


def probe(url: str, name: str, magic: Optional[bytes] = None, text: bool = True) -> InputFile | tuple[str, str]:
    """The file ready to plan, or (reason, detail) when it must be skipped.

    `magic`: bytes the format's files start with (Parquet's PAR1); `text`: the format is text, so binary
    content or another format's magic bytes mean the file was given the wrong suffix or --format.
    """
    fs, path = storage.resolve(url)
    try:
        size = fs.size(path)
        with fs.open(path, "rb") as handle:
            raw_head = handle.read(HEAD_BYTES)
    except (FileNotFoundError, PermissionError, IsADirectoryError, OSError):
        return "unreadable_file", name
    codec = compression_of(url)
    if codec and not raw_head.startswith(COMPRESSION_MAGIC[codec][0]):
        return COMPRESSION_MAGIC[codec][1], name
    try:
        with open_input(url) as stream:
            head = stream.read(HEAD_BYTES)
    except DAMAGED_STREAM:
        head = b""  # damaged right at the start: the reader counts it as truncated_file
    if magic is not None:
        return InputFile(url, name, size) if head.startswith(magic) else ("format_mismatch", name)
    encoding = next((enc for bom, enc in BOMS if head.startswith(bom)), "utf-8")
    if text:
        other = next((fmt for m, fmt in KNOWN_MAGIC.items() if head.startswith(m)), None)
        if other is not None or (not encoding.startswith(("utf-16", "utf-32")) and b"\x00" in head):
            return "format_mismatch", name
    return InputFile(url, name, size, encoding)


def byte_ranges(file: InputFile, unit_bytes: int) -> list[tuple[int, int]]:
    """Byte ranges [start, end) covering a file; compressed and transcoded files are one range (no seeking)."""
    if is_compressed(file.url) or file.transcoded or file.size <= unit_bytes:
        return [(0, -1)]
    return [(start, min(start + unit_bytes, file.size)) for start in range(0, file.size, unit_bytes)]


class _Transcoder(io.RawIOBase):
    """A UTF-16/UTF-32 byte stream read as UTF-8 bytes, decoded incrementally (bounded memory)."""

    def __init__(self, raw, encoding: str):
        self.raw = raw
        self.decoder = codecs.getincrementaldecoder(encoding.removesuffix("-sig"))("strict")
        self.buffer = b""
        self.bom_done = False

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self.buffer:
            chunk = self.raw.read(1 << 20)
            text = self.decoder.decode(chunk, final=not chunk)
            if not self.bom_done and text:
                text, self.bom_done = text.removeprefix("\ufeff"), True
            self.buffer = text.encode("utf-8")
            if not chunk:
                break
        n = min(len(b), len(self.buffer))
        b[:n] = self.buffer[:n]
        self.buffer = self.buffer[n:]
        return n

    def close(self) -> None:
        self.raw.close()
        super().close()


def open_input(url: str, encoding: str = "utf-8"):
    """A binary stream of the file's content: decompressed by suffix, UTF-16/32 transcoded to UTF-8.

    The UTF-8 byte-order mark is left in place (line readers drop it from the first line), so byte offsets
    stay positions in the file.
    """
    fs, path = storage.resolve(url)
    raw = fs.open(path, "rb")
    codec = compression_of(url)
    if codec == ".gz":
        stream = gzip.GzipFile(fileobj=raw, mode="rb")
    elif codec == ".bz2":
        stream = bz2.BZ2File(raw, mode="rb")
    elif codec == ".xz":
        stream = lzma.LZMAFile(raw, mode="rb")
    elif codec == ".zst":
        import zstandard

        stream = io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw, closefd=True))
    else:
        stream = raw
    if codec:
        stream.compressed = raw  # where a damaged stream broke, in compressed bytes
    if encoding.startswith(("utf-16", "utf-32")):
        wrapped = io.BufferedReader(_Transcoder(stream, encoding))
        wrapped.compressed = getattr(stream, "compressed", None)
        return wrapped
    return stream


def damage_note(url: str, name: str, stream, kept: int) -> str:
    """'NAME (broke at compressed byte X of Y, K records kept)' for a stream that ended in damage."""
    raw = getattr(stream, "compressed", None)
    fs, path = storage.resolve(url)
    try:
        where, total = raw.tell() if raw is not None else None, fs.size(path)
    except (OSError, ValueError):
        where, total = None, None
    at = f"broke at compressed byte {where:,} of {total:,}" if where is not None and total is not None else "damaged"
    return f"{name} ({at}, {kept:,} records kept)"


def strip_bom(line: bytes, offset: int) -> bytes:
    """The first line of a UTF-8 file without its byte-order mark."""
    return line[3:] if offset == 0 and line.startswith(codecs.BOM_UTF8) else line


def iter_lines(url: str, start: int, end: int, encoding: str = "utf-8", stream=None) -> Iterator[tuple[int, bytes]]:
    """(offset, line) for every line that begins inside [start, end); end -1 means to the end of file.

    A line belongs to the range holding its first byte, so adjacent ranges neither lose nor repeat one.
    Offsets are positions in the decompressed (and transcoded) stream. A truncated compressed file raises
    EOFError after its last complete line. Pass `stream` (from `open_input`) to learn where damage happened.
    """
    handle = stream if stream is not None else open_input(url, encoding)
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
            yield offset, strip_bom(line, offset)
            offset += len(line)
    finally:
        if stream is None:
            handle.close()
