"""What travels between the frontier and the fetchers: a job, and the summary of its answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from dataprep.crawl.links import extract_links, is_html
from dataprep.crawl.urls import normalize_url

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_ERRORS = frozenset({"timeout", "connection_error"})


@dataclass(frozen=True)
class Job:
    kind: str  # "page" or "robots"
    url: str
    origin: str
    depth: int = 0
    attempt: int = 0
    final: bool = True  # no retry after this one: its answer is kept whatever it is


@dataclass
class PageResult:
    """A fetch as the frontier needs it: outcome, outgoing links, redirect target; never the body (but robots.txt)."""

    url: str
    status: Optional[int] = None
    error: Optional[str] = None
    links: list[str] = field(default_factory=list)
    location: Optional[str] = None
    retry_after: Optional[float] = None
    bytes: int = 0
    truncated: bool = False
    robots_body: Optional[bytes] = None

    @property
    def retryable(self) -> bool:
        return self.error in RETRY_ERRORS or self.status in RETRY_STATUSES


def is_retryable(status: Optional[int], error: Optional[str]) -> bool:
    return error in RETRY_ERRORS or status in RETRY_STATUSES


def summarize(url: str, status: Optional[int], error: Optional[str], header: Callable[[str], Optional[str]],
              body: bytes, truncated: bool, retry_after: Optional[float] = None) -> PageResult:
    """The same summary for a live fetch and for a response read back from a WARC file (resume)."""
    result = PageResult(url=url, status=status, error=error, bytes=len(body), truncated=truncated,
                        retry_after=retry_after)
    if status is None:
        return result
    if 200 <= status < 300 and is_html(header("content-type"), body):
        result.links = extract_links(body, url)
    elif 300 <= status < 400:
        location = header("location")
        result.location = normalize_url(location, url) if location else None
    return result
