"""Plain text: one document per file, or one per block separated by blank lines."""

from __future__ import annotations

from typing import Literal

from dataprep.dataset import storage
from dataprep.params import Opt, Params
from dataprep.sources import files
from dataprep.sources.files import byte_ranges, iter_lines, open_input
from dataprep.sources.records import DocumentBuilder, decode_utf8
from dataprep.sources.source import Source


class TextOptions(Params):
    text_split: Literal["file", "blank-line"] = Opt("file", "Plain text: one document per `file`, or per "
                                                           "`blank-line` separated block.")


def plan(file: files.InputFile, opts, unit_bytes: int) -> list[dict]:
    base = {"format": "text", "url": file.url, "source": file.name, "encoding": file.encoding}
    if opts.text_split == "file":
        return [{**base, "split": "file", "start": 0, "end": -1}]
    return [{**base, "split": "blank-line", "start": s, "end": e} for s, e in block_aligned_ranges(file, unit_bytes)]


def read(unit: dict, builder: DocumentBuilder, opts) -> None:
    if unit["split"] == "file":
        _read_file(unit, builder)
    else:
        _read_blocks(unit, builder)


def _read_file(unit: dict, builder: DocumentBuilder) -> None:
    handle = open_input(unit["url"], unit.get("encoding", "utf-8"))
    try:
        raw = handle.read()
    except files.DAMAGED_STREAM:
        builder.damaged(unit, handle)
        return
    finally:
        handle.close()
    text = decode_utf8(raw)
    if text is None:
        builder.reject("invalid_utf8")
        return
    builder.add(unit["source"], text, unit["source"])


def _read_blocks(unit: dict, builder: DocumentBuilder) -> None:
    """Blocks of non-blank lines; the plan put every range boundary just after a blank line."""
    source = unit["source"]
    block: list[bytes] = []
    block_start = 0

    def flush():
        if block:
            text = decode_utf8(b"".join(block))
            if text is None:
                builder.reject("invalid_utf8")
            else:
                builder.add(f"{source}#{block_start}", text.strip("\r\n"), source)
        block.clear()

    stream = open_input(unit["url"], unit.get("encoding", "utf-8"))
    try:
        for offset, line in iter_lines(unit["url"], unit["start"], unit["end"], stream=stream):
            if not line.strip():
                flush()
                continue
            if not block:
                block_start = offset
            block.append(line)
    except files.DAMAGED_STREAM:
        flush()
        builder.damaged(unit, stream)
    finally:
        stream.close()
    flush()


def block_aligned_ranges(file: files.InputFile, unit_bytes: int) -> list[tuple[int, int]]:
    """Byte ranges whose boundaries sit right after a blank line, so no block straddles two ranges."""
    ranges = byte_ranges(file, unit_bytes)
    if len(ranges) == 1:
        return ranges
    fs, path = storage.resolve(file.url)
    cuts = [0]
    with fs.open(path, "rb") as handle:
        for start, _ in ranges[1:]:
            if start <= cuts[-1]:
                continue
            cut = _next_block_boundary(handle, start)
            if cut is None:
                break
            if cut > cuts[-1]:
                cuts.append(cut)
    bounds = cuts + [-1]
    return [(bounds[i], bounds[i + 1]) for i in range(len(cuts))]


def _next_block_boundary(handle, position: int, window: int = 1 << 16):
    """The offset just after the first blank line at or after `position`, or None at end of file."""
    handle.seek(max(0, position - 1))
    base = max(0, position - 1)
    carry = b""
    while True:
        data = handle.read(window)
        if not data:
            return None
        buf = carry + data
        hits = [(found + len(sep)) for sep in (b"\n\n", b"\n\r\n") if (found := buf.find(sep)) >= 0]
        if hits:
            return base - len(carry) + min(hits)
        carry = buf[-2:]
        base += len(data)


SOURCE = Source("text", "documents", (".txt", ".md", ".text"), plan, read,
                "plain text, one document per file or per blank-line block", options=TextOptions, groups_files=True)
