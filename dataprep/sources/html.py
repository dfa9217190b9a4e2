"""HTML files (`.html`, `.htm`, also compressed): one document per file, extracted like a WARC response.

The document's `url` is the page's `<link rel=canonical>` or `og:url` when it names one; its id is the file's
source name, as for plain text.
"""

from __future__ import annotations

import re
from typing import Optional

from dataprep.sources import files
from dataprep.sources.records import DocumentBuilder
from dataprep.sources.source import Source
from dataprep.web.page import WebOptions, page_text

_TAG = re.compile(rb"<(?:link|meta)\b[^>]{0,2048}>", re.IGNORECASE)
_ATTR = re.compile(rb"""([a-zA-Z:_-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")
URL_SCAN_BYTES = 256 << 10


def plan(file: files.InputFile, opts, unit_bytes: int) -> list[dict]:
    return [{"format": "html", "url": file.url, "source": file.name, "end": -1}]


def read(unit: dict, builder: DocumentBuilder, opts) -> None:
    options = opts.extract_options()
    handle = files.open_input(unit["url"])
    try:
        raw = handle.read(options.max_html_bytes + 1)
    except files.DAMAGED_STREAM:
        builder.damaged(unit, handle)
        return
    finally:
        handle.close()
    page = page_text(raw, options)
    if page.text is None:
        builder.reject(page.reason)
        return
    builder.add(unit["source"], page.text, unit["source"], url=page_url(raw), meta={"charset": page.charset})


def page_url(raw: bytes) -> Optional[str]:
    """`<link rel=canonical href=...>`, else `<meta property=og:url content=...>`, else None."""
    canonical = og_url = None
    for tag in _TAG.finditer(raw[:URL_SCAN_BYTES]):
        attrs = {m.group(1).lower(): (m.group(2) or m.group(3) or m.group(4) or b"") for m in _ATTR.finditer(tag.group())}
        if canonical is None and b"canonical" in attrs.get(b"rel", b"").lower().split():
            canonical = attrs.get(b"href")
        if og_url is None and attrs.get(b"property", b"").lower() == b"og:url":
            og_url = attrs.get(b"content")
    found = canonical or og_url
    return found.decode("utf-8", "replace").strip() or None if found else None


SOURCE = Source("html", "documents", (".html", ".htm"), plan, read,
                "HTML files, one document per file (URL from <link rel=canonical> or og:url)", options=WebOptions,
                groups_files=True)
