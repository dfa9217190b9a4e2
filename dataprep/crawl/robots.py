"""robots.txt rules (RFC 9309, parsed by protego) and what a robots.txt answer means for its host."""

from __future__ import annotations

import re
from typing import Optional

from protego import Protego

ROBOTS_MAX_BYTES = 500 * 1024  # RFC 9309: parse at least the first 500 KiB
ROBOTS_MAX_REDIRECTS = 5  # RFC 9309: follow at least five consecutive redirects

_TOKEN = re.compile(r"[A-Za-z_-]+")


def product_token(user_agent: str) -> str:
    """The product token robots.txt groups are matched against: 'raylm-crawler/0.1 (+https://...)' -> 'raylm-crawler'."""
    match = _TOKEN.match(user_agent.strip())
    if not match:
        raise ValueError(f"--user-agent must start with a product token of letters, '-' or '_', not {user_agent!r}")
    return match.group(0)


class RobotsRules:
    """One origin's rules; `RobotsRules(None)` allows everything (robots.txt missing or answering 4xx)."""

    def __init__(self, text: Optional[str]):
        self.text = text
        self._parser = Protego.parse(text) if text else None

    @classmethod
    def from_body(cls, body: bytes) -> "RobotsRules":
        return cls(body[:ROBOTS_MAX_BYTES].decode("utf-8", errors="replace"))

    def can_fetch(self, url: str, token: str) -> bool:
        return self._parser is None or self._parser.can_fetch(url, token)

    def crawl_delay(self, token: str) -> float:
        if self._parser is None:
            return 0.0
        return float(self._parser.crawl_delay(token) or 0.0)


def robots_outcome(status: Optional[int], error: Optional[str]) -> str:
    """What a robots.txt fetch means: 'rules' (parse the body), 'allow' (no rules) or 'defer' (try again later).

    Like Nutch and RFC 9309: 2xx gives rules; 4xx means no robots.txt, so everything is allowed; 5xx, 429 and
    network failures mean the server is unavailable, so the host waits. Redirects are followed by the fetcher; one
    still unresolved (too many, or to another origin) counts as unavailable = allow (RFC 9309 section 2.3.1.2).
    """
    if error is not None:
        return "defer"
    assert status is not None
    if 200 <= status < 300:
        return "rules"
    if status == 429 or status >= 500:
        return "defer"
    return "allow"
