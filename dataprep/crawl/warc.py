"""WARC files of the crawl: request + response pairs, one gzip member per record, renamed into place when closed.

A file being written lives in `OUT/state/warc-open/` (locked with flock by its writer); closing renames it into
`OUT/warc/`, so that folder only ever holds finished files. Every pair is written with one `write` and flushed,
so a killed writer leaves at most one partial pair: `salvage` cuts an abandoned file after its last complete pair
and moves it into `OUT/warc/`, and nothing that was fetched and written is fetched again.

Bodies are stored decoded (as Common Crawl does): `Content-Encoding` and `Transfer-Encoding` become
`X-Crawler-Content-Encoding` / `X-Crawler-Transfer-Encoding`, `Content-Length` is the stored length (the server's
value is kept as `X-Crawler-Content-Length`), and a body cut at `--max-bytes` is marked `WARC-Truncated: length`.
"""

from __future__ import annotations

import fcntl
import io
import os
import re
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Optional

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.timeutils import datetime_to_iso_date
from warcio.warcwriter import WARCWriter

from dataprep.crawl.fetch import FetchOutcome
from dataprep.crawl.locks import wait_for_lock

SUFFIX = ".warc.gz"
_RENAMED = ("content-encoding", "transfer-encoding", "content-length")


def warc_date(ts: float) -> str:
    return datetime_to_iso_date(datetime.fromtimestamp(ts, timezone.utc).replace(tzinfo=None), use_micros=True)


def stored_http_headers(outcome: FetchOutcome) -> StatusAndHeaders:
    headers = []
    for name, value in outcome.headers:
        if name.lower() in _RENAMED:
            headers.append((f"X-Crawler-{name.title()}", value))
        else:
            headers.append((name, value))
    headers.append(("Content-Length", str(len(outcome.body))))
    statusline = f"{outcome.status} {outcome.reason_phrase}".strip()
    return StatusAndHeaders(statusline, headers, protocol=outcome.http_version)


def pair_bytes(outcome: FetchOutcome) -> bytes:
    """The request and response records of one fetch, each its own gzip member, as one buffer."""
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True, warc_version="1.1")
    date = warc_date(outcome.started)
    path = outcome.url.split("/", 3)[3] if outcome.url.count("/") >= 3 else ""
    req_http = StatusAndHeaders(f"GET /{path} HTTP/1.1", outcome.request_headers, is_http_request=True)
    request = writer.create_warc_record(outcome.url, "request", http_headers=req_http,
                                        warc_headers_dict={"WARC-Date": date})
    extra = {"WARC-Date": date}
    if outcome.ip:
        extra["WARC-IP-Address"] = outcome.ip
    if outcome.truncated:
        extra["WARC-Truncated"] = "length"
    response = writer.create_warc_record(outcome.url, "response", payload=io.BytesIO(outcome.body),
                                         length=len(outcome.body), http_headers=stored_http_headers(outcome),
                                         warc_headers_dict=extra)
    request.rec_headers.add_header("WARC-Concurrent-To", response.rec_headers.get_header("WARC-Record-ID"))
    writer.write_record(request)
    writer.write_record(response)
    return buf.getvalue()


class WarcFileWriter:
    """Appends pairs to an open file and renames it into `warc_dir` once it reaches `max_file_bytes` or on close.

    A file is open (and locked) from `open()` to `close()`, before any fetch: a writer that outlives its crawl's
    driver can then only add to a file that the next run waits for (see `salvage`), never start one it misses.
    """

    def __init__(self, warc_dir: Path, open_dir: Path, name_prefix: str, max_file_bytes: int, info: dict):
        self.warc_dir, self.open_dir = Path(warc_dir), Path(open_dir)
        self.name_prefix, self.max_file_bytes, self.info = name_prefix, max_file_bytes, info
        self._file = None
        self._name: Optional[str] = None
        self._pairs = 0
        self._serial = 0

    def write(self, outcome: FetchOutcome) -> Optional[str]:
        """Write one pair; returns the name of a file that this write closed (it reached the size limit)."""
        if self._file is None:
            self.open()
        self._file.write(pair_bytes(outcome))
        self._file.flush()
        self._pairs += 1
        if self._file.tell() >= self.max_file_bytes:
            closed = self.close()
            self.open()
            return closed
        return None

    def close(self) -> Optional[str]:
        """Close the open file and rename it into `warc_dir` (returns its name); a file without pairs is removed."""
        if self._file is None:
            return None
        name, f, pairs = self._name, self._file, self._pairs
        self._file, self._name, self._pairs = None, None, 0
        if not pairs:
            os.unlink(self.open_dir / name)
            f.close()
            return None
        f.flush()
        os.fsync(f.fileno())
        os.replace(self.open_dir / name, self.warc_dir / name)
        f.close()  # releases the lock only after the rename
        return name

    def open(self) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S%f")
        self._name = f"{self.name_prefix}-{stamp}-{self._serial:05d}{SUFFIX}"
        self._serial += 1
        self.open_dir.mkdir(parents=True, exist_ok=True)
        self._file = open(self.open_dir / self._name, "xb")
        fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        buf = io.BytesIO()
        writer = WARCWriter(buf, gzip=True, warc_version="1.1")
        writer.write_record(writer.create_warcinfo_record(self._name, self.info))
        self._file.write(buf.getvalue())
        self._file.flush()


_TYPE = re.compile(rb"\r\nWARC-Type:\s*(\w+)", re.IGNORECASE)


def complete_members(f, chunk: int = 1 << 20) -> Iterator[tuple[int, bytes]]:
    """(end offset, WARC-Type) of each complete gzip member from the start of `f`; stops at the first damage."""
    offset, buf = 0, b""
    while True:
        d, head, consumed = zlib.decompressobj(31), b"", 0
        while not d.eof:
            data, buf = buf or f.read(chunk), b""
            if not data:
                return
            try:
                out = d.decompress(data)
            except zlib.error:
                return
            head += out[: max(0, 4096 - len(head))]
            consumed += len(data) - len(d.unused_data)
        buf = d.unused_data
        offset += consumed
        match = _TYPE.search(head)
        yield offset, (match.group(1).lower() if match else b"")


def salvage(open_dir: Path, warc_dir: Path, wait_s: float = 30.0) -> list[str]:
    """Move abandoned open files into `warc_dir`, cut after their last complete request/response pair.

    Waits (up to `wait_s`) for a writer that still holds a file's lock: a fetcher of a killed driver may take a
    moment to be stopped by Ray. Files with no complete pair are deleted. Returns the names moved.
    """
    moved = []
    open_dir = Path(open_dir)
    if not open_dir.is_dir():
        return moved
    for path in sorted(open_dir.glob(f"*{SUFFIX}")):
        try:
            f = open(path, "r+b")
        except FileNotFoundError:  # its writer closed it meanwhile
            continue
        with f:
            if not wait_for_lock(f, wait_s):
                raise TimeoutError(f"{path} is still being written by another process")
            if not path.exists():  # renamed into place by its writer while we waited
                continue
            good_end, last_type = 0, b""
            for end, rtype in complete_members(f):
                if rtype == b"response" and last_type == b"request":
                    good_end = end
                last_type = rtype
            if good_end == 0:
                path.unlink()
                continue
            f.truncate(good_end)
            f.flush()
            os.fsync(f.fileno())
            os.replace(path, Path(warc_dir) / path.name)
            moved.append(path.name)
    return moved


@dataclass
class StoredResponse:
    url: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    truncated: bool
    date: str

    def header(self, name: str) -> Optional[str]:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)


def read_responses(path: Path) -> Iterator[StoredResponse]:
    """The response records of a closed WARC file, in file order."""
    with open(path, "rb") as f:
        for record in ArchiveIterator(f):
            if record.rec_type != "response":
                continue
            http = record.http_headers
            yield StoredResponse(
                url=record.rec_headers.get_header("WARC-Target-URI"),
                status=int(http.get_statuscode()),
                headers=list(http.headers),
                body=record.content_stream().read(),
                truncated=bool(record.rec_headers.get_header("WARC-Truncated")),
                date=record.rec_headers.get_header("WARC-Date"),
            )
