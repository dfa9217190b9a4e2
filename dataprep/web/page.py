"""One HTML payload -> main text, or the reason it yields none. Shared by the WARC and HTML sources."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from pydantic import field_validator

from dataprep.params import Opt, Params
from dataprep.web.charset import decode_html
from dataprep.web.extract import DEFAULT_EXTRACTOR, EXTRACTORS, resolve
from dataprep.web.watchdog import DEFAULT_TIMEOUT_S, MAX_HTML_BYTES, shared_watchdog

_HTML_START = re.compile(rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body|title|meta|div|p|script)[\s>]",
                         re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class ExtractOptions:
    extractor: str
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_html_bytes: int = MAX_HTML_BYTES


class WebOptions(Params):
    """The HTML sources' own options (WARC responses and HTML files), composed into the ingest step."""

    extractor: str = Opt(DEFAULT_EXTRACTOR, f"Main-text extractor for WARC/HTML: {'|'.join(EXTRACTORS)}, or "
                                            "module:function.", metavar="NAME")
    page_timeout: float = Opt(DEFAULT_TIMEOUT_S, "Seconds one page's extraction may take (extraction_timeout).", gt=0,
                              le=3600)
    max_html_bytes: int = Opt(MAX_HTML_BYTES, "Larger HTML payloads are skipped as html_too_large.", ge=1)

    @field_validator("extractor")
    @classmethod
    def _known(cls, value: str) -> str:
        resolve(value)  # an unknown name or module:function is refused before any work
        return value

    def extract_options(self) -> ExtractOptions:
        return ExtractOptions(self.extractor, self.page_timeout, self.max_html_bytes)


@dataclass
class PageText:
    text: Optional[str]
    charset: Optional[str] = None
    reason: Optional[str] = None  # why there is no text


def sniff_html(head: bytes) -> bool:
    """Whether a payload without a useful Content-Type starts like an HTML document."""
    return bool(_HTML_START.match(head[:1024].lstrip(b"\xef\xbb\xbf")))


def page_text(raw: bytes, options: ExtractOptions, http_charset: Optional[str] = None) -> PageText:
    """Size limit, charset, then extraction in the watchdog's child; every failure is a counted reason."""
    if len(raw) > options.max_html_bytes:
        return PageText(None, reason="html_too_large")
    decoded = decode_html(raw, http_charset)
    if decoded.text is None:
        return PageText(None, reason=decoded.reason or "undecodable")
    outcome = shared_watchdog(options.timeout_s).extract(decoded.text, options.extractor)
    if outcome.text is None:
        return PageText(None, decoded.charset, outcome.reason)
    if not outcome.text.strip():
        return PageText(None, decoded.charset, "empty_extraction")
    return PageText(outcome.text, decoded.charset)
