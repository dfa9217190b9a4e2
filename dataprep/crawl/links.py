"""Outgoing links of an HTML page, resolved to absolute URLs and normalized."""

from __future__ import annotations

from typing import Optional

import lxml.etree
import lxml.html

from dataprep.crawl.urls import normalize_url

HTML_TYPES = ("text/html", "application/xhtml+xml")


def is_html(content_type: Optional[str], body: bytes) -> bool:
    """By the Content-Type header, or sniffed from the first bytes when the header is missing."""
    if content_type:
        return content_type.split(";", 1)[0].strip().lower() in HTML_TYPES
    head = body[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<body" in head


def extract_links(body: bytes, page_url: str) -> list[str]:
    """Normalized targets of `<a href>` and `<area href>`, in document order, each once.

    Honours `<base href>`, `<meta name=robots content=nofollow>` (no links at all) and `rel=nofollow` on a link.
    Hrefs that are not URLs at all are left out; non-http(s) URLs (mailto:, ftp:, javascript:) are kept so the
    frontier can count them as `bad_scheme`.
    """
    if not body.strip():
        return []
    try:
        doc = lxml.html.document_fromstring(body)
    except (lxml.etree.ParserError, ValueError):
        return []
    for meta in doc.iter("meta"):
        if (meta.get("name") or "").strip().lower() == "robots" and "nofollow" in (meta.get("content") or "").lower():
            return []
    base = page_url
    for el in doc.iter("base"):
        href = el.get("href")
        if href:
            base = normalize_url(href, page_url) or page_url
            break
    links: dict[str, None] = {}
    for el in doc.iter("a", "area"):
        href = el.get("href")
        if href is None or "nofollow" in (el.get("rel") or "").lower().split():
            continue
        url = normalize_url(href, base)
        if url:
            links[url] = None
    return list(links)
