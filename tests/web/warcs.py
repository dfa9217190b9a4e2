"""Writing small WARC files for tests with warcio, from real pages."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from tests.conftest import DATA

WEB = DATA / "web"
WARCS = WEB / "warc"
EN = WEB / "html" / "en"
ZH = WEB / "html" / "zh"


def response(url: str, payload: bytes, content_type: str = "text/html; charset=utf-8", status: str = "200 OK"):
    return url, payload, content_type, status


def write_warc(path: Path, responses, gzip: bool = True) -> Path:
    """One warcinfo record, then a request + response pair per (url, payload, content type, status)."""
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=gzip)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "raylm tests"}))
        for url, payload, content_type, status in responses:
            request = StatusAndHeaders("GET / HTTP/1.1", [("Host", url.split("/")[2])], is_http_request=True)
            writer.write_record(writer.create_warc_record(url, "request", http_headers=request))
            headers = StatusAndHeaders(status, [("Content-Type", content_type), ("Content-Length", str(len(payload)))],
                                       protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url, "response", payload=BytesIO(payload),
                                                          length=len(payload), http_headers=headers))
    return path


def deeply_nested_page(depth: int = 20_000) -> bytes:
    """A real HTML document nested `depth` <div>s deep: resiliparse's main-content pass is quadratic in depth."""
    return (b"<html><head><title>deep</title></head><body><p>" + b"A paragraph of text before the nesting. " * 20
            + b"</p>" + b"<div>" * depth + b"deep text" + b"</div>" * depth + b"</body></html>")
