"""Per-host politeness state. A host is scheme + host + port, the unit of robots.txt and of the request rate."""

from __future__ import annotations

from typing import Optional

from dataprep.crawl.robots import RobotsRules


class Host:
    """One origin: its queue of (depth, url), when it may be asked next, its robots.txt and counters.

    The frontier serves at most one request per host at a time (`busy`) and starts the next one no sooner than
    `delay` seconds after the previous one ended (`ready_at`): `delay` is 1 / --rate-per-host, or the robots.txt
    Crawl-delay when that is longer. Failures push `ready_at` further (exponential back-off, Retry-After).
    """

    __slots__ = ("origin", "queue", "ready_at", "busy", "delay", "failures", "robots", "robots_tries", "blocked",
                 "pages", "answered", "bytes", "requests")

    def __init__(self, origin: str, delay: float):
        self.origin = origin
        self.queue: list[tuple[int, str]] = []
        self.ready_at = 0.0
        self.busy = False
        self.delay = delay
        self.failures = 0  # failed answers in a row: the exponent of the back-off
        self.robots: Optional[RobotsRules] = None  # None: not fetched yet
        self.robots_tries = 0
        self.blocked: Optional[str] = None  # every URL of a blocked host is dropped with this reason
        self.pages = 0  # 2xx answers
        self.answered = 0  # page answers of any status
        self.bytes = 0
        self.requests = 0  # every request sent, robots.txt and retries included

    def counters(self) -> dict:
        return {"pages": self.pages, "answered": self.answered, "bytes": self.bytes, "requests": self.requests}

    def save(self) -> list:
        return [self.ready_at, self.failures, self.pages, self.answered, self.bytes, self.requests]

    def load(self, saved: list) -> None:
        self.ready_at, self.failures, self.pages, self.answered, self.bytes, self.requests = saved
