"""WARC archives (`.warc`, `.warc.gz`): HTML responses -> documents through charset detection and extraction.

Every record that does not become a document is counted under a reason: `warcinfo`, `warc_request`,
`warc_metadata`, `warc_revisit`, `warc_conversion` (WET text belongs to `--format wet`), `wat_unsupported`,
`non_html`, `http_status_NNN` (non-2xx), `truncated_record` (block shorter than its Content-Length),
`undecodable`, `html_too_large`, `extraction_timeout`, `extraction_error`, `empty_extraction`, and
`truncated_file` once for a damaged archive (every record before the damage is kept).
"""

from __future__ import annotations

from typing import Optional

from dataprep.sources import warc_stream
from dataprep.sources.records import DocumentBuilder
from dataprep.sources.source import Source
from dataprep.web.page import ExtractOptions, WebOptions, page_text, sniff_html

HTML_TYPES = ("text/html", "application/xhtml+xml")
UNKNOWN_TYPES = ("", "unknown/unknown", "application/unknown", "application/octet-stream", "*/*", "text/unknown")
SKIPPED_TYPES = {
    "warcinfo": "warcinfo",
    "request": "warc_request",
    "metadata": "warc_metadata",
    "revisit": "warc_revisit",
    "conversion": "warc_conversion",
}


def is_wat(url: str) -> bool:
    return ".wat." in url.rsplit("/", 1)[-1].lower()


def plan(file, opts, unit_bytes: int) -> list[dict]:
    return warc_stream.plan(file.url, file.name, "warc", unit_bytes, wat=is_wat(file.url))


def read(unit: dict, builder: DocumentBuilder, opts) -> None:
    options = opts.extract_options()
    try:
        for record in warc_stream.iter_records(unit):
            _read_record(record, unit, builder, options)
    except warc_stream.DAMAGED_ARCHIVE as exc:
        warc_stream.damaged(unit, builder, exc)


def _read_record(record, unit: dict, builder: DocumentBuilder, options: ExtractOptions) -> None:
    kind = record.rec_type
    if kind != "warcinfo" and (unit.get("wat") or _is_wat_metadata(record)):
        builder.reject("wat_unsupported")
        return
    if kind not in ("response", "resource"):
        builder.reject(SKIPPED_TYPES.get(kind, f"warc_{kind}"))
        return
    http = record.http_headers
    status: Optional[int] = None
    if http is not None and kind == "response":
        status = _status(http)
        if status is None or not 200 <= status < 300:
            builder.reject(f"http_status_{status if status is not None else 'unknown'}")
            return
        content_type = http.get_header("Content-Type") or ""
    else:
        content_type = record.rec_headers.get_header("Content-Type") or ""
        if kind == "response" and not (record.rec_headers.get_header("WARC-Target-URI") or "").startswith("http"):
            builder.reject("non_html")  # dns: and other non-HTTP responses
            return
    mime, charset = _media_type(content_type)
    raw = record.content_stream().read(options.max_html_bytes + 1)
    if mime not in HTML_TYPES and not (mime in UNKNOWN_TYPES and sniff_html(raw)):
        builder.reject("non_html")
        return
    if warc_stream.block_truncated(record):
        builder.reject("truncated_record")
        return
    page = page_text(raw, options, charset)
    if page.text is None:
        builder.reject(page.reason)
        return
    headers = record.rec_headers
    record_id = warc_stream.unwrap(headers.get_header("WARC-Record-ID"))
    meta = {"warc_date": headers.get_header("WARC-Date"), "warc_record_id": record_id, "http_status": status,
            "charset": page.charset}
    if headers.get_header("WARC-Truncated"):
        meta["warc_truncated"] = headers.get_header("WARC-Truncated")
    url = warc_stream.unwrap(headers.get_header("WARC-Target-URI"))
    builder.add(record_id or f"{unit['source']}#{unit['start']}", page.text, unit["source"], url=url, meta=meta)


def _is_wat_metadata(record) -> bool:
    return record.rec_type == "metadata" and "json" in (record.rec_headers.get_header("Content-Type") or "")


def _status(http) -> Optional[int]:
    try:
        return int(http.get_statuscode())
    except (TypeError, ValueError):
        return None


def _media_type(content_type: str) -> tuple[str, Optional[str]]:
    """`text/html; charset=GBK` -> ("text/html", "GBK")."""
    parts = [p.strip() for p in content_type.split(";")]
    charset = None
    for param in parts[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip("\"'") or None
    return parts[0].lower(), charset


SOURCE = Source("warc", "documents", (".warc", ".warc.wat"), plan, read,
                "WARC archives: HTML responses through charset detection and main-text extraction",
                magic=b"WARC/", text=False, options=WebOptions)
