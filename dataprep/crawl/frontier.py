"""The frontier: every URL the crawl has seen, what became of it, and which request may go out next.

Order and depth. URLs are served in (depth, normalized URL) order among the hosts that may be asked now, and a
URL's depth is its shortest distance from a seed (a link adds 1, a redirect 0). Fetchers finish out of order, so a
page can be found at depth 3 and later at depth 2: the frontier lowers its depth then and, if the page was already
fetched, re-announces the links it remembered for it (links are kept only while the page's depth can still fall,
i.e. while some unfinished URL is shallower). So the set of pages fetched within --max-depth does not depend on
timing or on how often the crawl was stopped and resumed.

Every URL ends with one status: `fetched` (2xx) or a reason it was not fetched (`redirect`, `http_status_NNN`,
`robots_disallowed`, `off_allowlist`, `max_depth`, ...); the stats count them. Nothing here does I/O.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from typing import Iterable, Optional, Union

from dataprep.crawl.hosts import Host
from dataprep.crawl.jobs import Job, PageResult
from dataprep.crawl.params import CrawlParams
from dataprep.crawl.robots import RobotsRules, product_token, robots_outcome
from dataprep.crawl.urls import UrlPolicy, origin, robots_url

QUEUED, LEASED, FETCHED = "queued", "leased", "fetched"
OPEN = (QUEUED, LEASED)
REVISABLE = ("max_depth", "too_many_redirects")  # a shorter path found later lifts these
ERROR_REASONS = frozenset({"timeout", "connection_error", "dns_error", "private_address", "robots_unavailable",
                           "fetch_error"})
NOT_SENT = ("private_address", "dns_error")  # refused before a connection: not a request
POLL_S = 0.05


class Url:
    __slots__ = ("depth", "hops", "status", "attempt")

    def __init__(self, depth: int, hops: int, status: Optional[str] = None, attempt: int = 0):
        self.depth, self.hops, self.status, self.attempt = depth, hops, status, attempt


class Frontier:
    def __init__(self, params: CrawlParams):
        self.p = params
        self.policy = UrlPolicy.build(params.allow_domain, params.seed_urls)
        self.token = product_token(params.user_agent)
        self.min_interval = 1.0 / params.rate_per_host
        self.urls: dict[str, Url] = {}
        self.hosts: dict[str, Host] = {}
        self.children: dict[str, list[tuple[str, int]]] = {}  # fetched page -> (target, 1 link | 0 redirect)
        self.counts: Counter = Counter()  # finished URLs by status
        self.open_depths: Counter = Counter()  # queued or leased URLs by depth
        self.active: set[str] = set()  # hosts whose queue may be non-empty
        self.answered = 0  # page answers of any status (what --max-pages counts)
        self.leased_pages = 0
        self.in_flight = 0  # page and robots jobs out
        self.bytes = 0
        self.warcs: set[str] = set()  # closed WARC files whose records are all in this state
        self.journal: list[dict] = []  # host events not yet appended to OUT/state/hosts.jsonl
        self.stopping = False

    # ---- discovery -------------------------------------------------------------------------------------------

    def add_seeds(self, urls: Iterable[str]) -> None:
        for url in urls:
            self.discover(url, 0, 0)

    def discover(self, url: str, depth: int, hops: int) -> None:
        """Record that `url` is reachable at (depth, redirect hops); lowers both for a URL seen before."""
        work = [(url, depth, hops)]
        while work:
            url, depth, hops = work.pop()
            rec = self.urls.get(url)
            if rec is None:
                rec = self.urls[url] = Url(depth, hops)
                reason = self.policy.check(url)
                if reason:
                    self._set(rec, reason)
                else:
                    self._place(url, rec)
                continue
            if (depth, hops) >= (rec.depth, rec.hops):
                continue
            if rec.status in OPEN:
                self.open_depths[rec.depth] -= 1
                self.open_depths[depth] += 1
                rec.depth, rec.hops = depth, hops
                if rec.status == QUEUED:
                    heapq.heappush(self._host(url).queue, (depth, url))
                    self.active.add(origin(url))
            elif rec.status in REVISABLE:
                rec.depth, rec.hops = depth, hops
                self._place(url, rec)
            else:
                rec.depth, rec.hops = depth, hops
                for child, is_link in self.children.get(url, ()):
                    work.append((child, depth + is_link, 0 if is_link else hops + 1))

    def _place(self, url: str, rec: Url) -> None:
        """Queue an allowed URL, or drop it with the reason that applies now."""
        host = self._host(url)
        if rec.depth > self.p.max_depth:
            self._set(rec, "max_depth")
        elif rec.hops > self.p.max_redirects:
            self._set(rec, "too_many_redirects")
        elif host.blocked:
            self._set(rec, host.blocked)
        elif host.robots is not None and not host.robots.can_fetch(url, self.token):
            self._set(rec, "robots_disallowed")
        else:
            self._set(rec, QUEUED)
            heapq.heappush(host.queue, (rec.depth, url))
            self.active.add(host.origin)

    def _set(self, rec: Url, status: str) -> None:
        old = rec.status
        if old in OPEN:
            self.open_depths[rec.depth] -= 1
        elif old is not None:
            self.counts[old] -= 1
        rec.status = status
        if status in OPEN:
            self.open_depths[rec.depth] += 1
        else:
            self.counts[status] += 1

    def _host(self, url: str) -> Host:
        key = origin(url)
        host = self.hosts.get(key)
        if host is None:
            host = self.hosts[key] = Host(key, self.min_interval)
        return host

    def min_open_depth(self) -> float:
        depths = [d for d, n in self.open_depths.items() if n > 0]
        return min(depths) if depths else math.inf

    # ---- serving ---------------------------------------------------------------------------------------------

    def lease(self, now: float) -> Union[Job, float, None]:
        """The next job, or seconds to wait before asking again, or None when the crawl is over."""
        while not self.stopping:
            budget = self.p.max_pages - self.answered - self.leased_pages
            best, wait = None, None
            for key in list(self.active):
                host = self.hosts[key]
                head = self._head(host)
                if head is None:
                    self.active.discard(key)
                    continue
                if host.busy or budget <= 0:
                    continue
                if host.ready_at > now:
                    wait = min(wait or math.inf, host.ready_at - now)
                    continue
                if best is None or head < best[0]:
                    best = (head, host)
            if best is None:
                if self.in_flight == 0 and (budget <= 0 or not self.active):
                    return None
                return min(wait or POLL_S, 1.0)
            (depth, url), host = best
            if host.robots is None:
                host.busy = True
                self.in_flight += 1
                return Job("robots", robots_url(host.origin), host.origin)
            heapq.heappop(host.queue)
            rec = self.urls[url]
            if not host.robots.can_fetch(url, self.token):
                self._set(rec, "robots_disallowed")
                continue
            self._set(rec, LEASED)
            host.busy = True
            self.in_flight += 1
            self.leased_pages += 1
            return Job("page", url, host.origin, rec.depth, rec.attempt, final=rec.attempt >= self.p.retries)
        return None

    def _head(self, host: Host) -> Optional[tuple[int, str]]:
        while host.queue:
            depth, url = host.queue[0]
            rec = self.urls[url]
            if rec.status == QUEUED and rec.depth == depth:
                return depth, url
            heapq.heappop(host.queue)  # stale: leased, dropped, or queued again at a smaller depth
        return None

    # ---- answers ---------------------------------------------------------------------------------------------

    def complete(self, job: Job, result: PageResult, now: float) -> None:
        host = self.hosts[job.origin]
        host.busy = False
        host.requests += result.error not in NOT_SENT
        self.in_flight -= 1
        if job.kind == "robots":
            self._robots_answer(host, result, now)
            return
        self.leased_pages -= 1
        rec = self.urls[job.url]
        if result.error == "private_address":
            self._set(rec, "private_address")
            self.host_event({"origin": host.origin, "kind": "block", "reason": "private_address", "time": now})
            return
        pause = 0.0
        if result.retryable:
            pause = self.p.backoff * 2 ** host.failures
            if result.retry_after is not None:
                pause = max(pause, min(result.retry_after, self.p.max_retry_after))
            host.failures += 1
        else:
            host.failures = 0
        host.ready_at = now + max(pause, host.delay)
        if result.retryable and not job.final:
            rec.attempt += 1
            self._set(rec, QUEUED)
            heapq.heappush(host.queue, (rec.depth, job.url))
            self.active.add(host.origin)
            return
        self.finish(job.url, rec, result)

    def finish(self, url: str, rec: Url, result: PageResult) -> None:
        """The final answer for `url`: its status, counters, and the URLs it leads to."""
        if result.error is not None:
            self._set(rec, result.error)
            return
        host = self._host(url)
        self.answered += 1
        self.bytes += result.bytes
        host.answered += 1
        host.bytes += result.bytes
        status = result.status
        if 200 <= status < 300:
            self._set(rec, FETCHED)
            host.pages += 1
            targets = [(link, 1) for link in result.links]
        elif 300 <= status < 400 and result.location:
            self._set(rec, "redirect")
            targets = [(result.location, 0)]
        else:
            self._set(rec, f"http_status_{status}")
            targets = []
        for target, is_link in targets:
            self.discover(target, rec.depth + is_link, 0 if is_link else rec.hops + 1)
        kept = [(t, k) for t, k in targets if self.policy.check(t) is None]
        if kept and rec.depth > self.min_open_depth():
            self.children[url] = kept

    def _robots_answer(self, host: Host, result: PageResult, now: float) -> None:
        event = {"origin": host.origin, "time": now}
        if result.error in ("private_address",):
            event.update(kind="block", reason=result.error)
        else:
            outcome = robots_outcome(result.status, result.error)
            if outcome == "rules":
                rules = RobotsRules.from_body(result.robots_body or b"")
                if rules.crawl_delay(self.token) > self.p.max_crawl_delay:
                    event.update(kind="block", reason="crawl_delay_too_long")
                else:
                    event.update(kind="rules", text=rules.text)
            else:
                event.update(kind=outcome)
        self.host_event(event)

    def host_event(self, event: dict, record: bool = True) -> None:
        """Apply a robots.txt outcome or a block to its host; recorded events go to the journal (hosts.jsonl)."""
        if record:
            self.journal.append(event)
        host = self.hosts.get(event["origin"])
        if host is None:
            host = self.hosts[event["origin"]] = Host(event["origin"], self.min_interval)
        kind, now = event["kind"], event["time"]
        if kind == "rules":
            host.robots = RobotsRules(event["text"])
            host.delay = max(self.min_interval, host.robots.crawl_delay(self.token))
            host.ready_at = max(host.ready_at, now + host.delay)
        elif kind == "allow":
            host.robots = RobotsRules(None)
            host.ready_at = max(host.ready_at, now + host.delay)
        elif kind == "defer":
            host.robots_tries += 1
            if host.robots_tries >= self.p.robots_attempts:
                self._block(host, "robots_unavailable")
            else:
                host.ready_at = max(host.ready_at, now + self.p.robots_retry * 2 ** (host.robots_tries - 1))
        elif kind == "block":
            self._block(host, event["reason"])

    def _block(self, host: Host, reason: str) -> None:
        host.blocked = reason
        while host.queue:
            _, url = heapq.heappop(host.queue)
            rec = self.urls[url]
            if rec.status == QUEUED:
                self._set(rec, reason)

    def warc_closed(self, name: str) -> None:
        self.warcs.add(name)

    def drain_journal(self) -> list[dict]:
        events, self.journal = self.journal, []
        return events

    # ---- resume ----------------------------------------------------------------------------------------------

    def replay(self, results: Iterable[PageResult]) -> int:
        """Apply answers found in WARC files this state has not seen (written after the last save). Returns how many."""
        pending = {r.url: r for r in results}
        applied = 0
        while pending:
            ready = [u for u in sorted(pending) if u in self.urls]
            if not ready:  # reached from pages outside this state: keep them fetched, at the depth limit
                ready = sorted(pending)
            for url in ready:
                rec = self.urls.get(url) or self.urls.setdefault(url, Url(self.p.max_depth, 0))
                result = pending.pop(url)
                if rec.status in OPEN or rec.status is None or rec.status in REVISABLE:
                    self.finish(url, rec, result)
                    applied += 1
        return applied

    def snapshot(self) -> dict:
        self.collect_children()
        urls = [[u, r.depth, r.hops, QUEUED if r.status == LEASED else r.status, r.attempt]
                for u, r in self.urls.items()]
        return {
            "version": 1,
            "urls": urls,
            "children": self.children,
            "hosts": {k: h.save() for k, h in self.hosts.items()},
            "answered": self.answered,
            "bytes": self.bytes,
            "warcs": sorted(self.warcs),
        }

    def restore(self, state: dict) -> None:
        """Load a snapshot into a new frontier (before seeds, host events and WARC replay)."""
        assert not self.urls, "restore() needs an empty frontier"
        for url, depth, hops, status, attempt in state["urls"]:
            rec = self.urls[url] = Url(depth, hops, None, attempt)
            self._set(rec, status)
            if status == QUEUED:
                host = self._host(url)
                heapq.heappush(host.queue, (depth, url))
                self.active.add(host.origin)
        self.children = {u: [tuple(c) for c in kids] for u, kids in state["children"].items()}
        for key, saved in state["hosts"].items():
            host = self.hosts.get(key) or self.hosts.setdefault(key, Host(key, self.min_interval))
            host.load(saved)
        self.answered, self.bytes = state["answered"], state["bytes"]
        self.warcs = set(state["warcs"])

    def collect_children(self) -> None:
        """Forget the links of pages whose depth can no longer fall (no unfinished URL is shallower)."""
        floor = self.min_open_depth()
        self.children = {u: kids for u, kids in self.children.items() if self.urls[u].depth > floor}

    # ---- reporting -------------------------------------------------------------------------------------------

    def queued(self) -> int:
        return sum(self.open_depths.values()) - self.leased_pages

    def errors(self) -> int:
        return sum(n for r, n in self.counts.items() if r in ERROR_REASONS or r.startswith("http_status_"))

    def progress(self) -> dict:
        return {"pages": self.counts[FETCHED], "answered": self.answered, "queue": self.queued(),
                "in_flight": self.in_flight, "hosts": len(self.hosts), "bytes": self.bytes, "errors": self.errors()}

    def stats(self, interrupted: bool = False) -> dict:
        """The `crawl` stage: rows_in = URLs considered, rows_out = pages fetched (2xx), the rest by reason."""
        dropped = {r: n for r, n in sorted(self.counts.items()) if r != FETCHED and n}
        still_open = sum(self.open_depths.values())
        if still_open:
            reason = "interrupted" if interrupted else (
                "max_pages" if self.answered >= self.p.max_pages else "unfinished")
            dropped[reason] = dropped.get(reason, 0) + still_open
        return {
            "name": "crawl",
            "rows_in": len(self.urls),
            "rows_out": self.counts[FETCHED],
            "dropped": dropped,
            "pages": self.counts[FETCHED],
            "answered": self.answered,
            "bytes": self.bytes,
            "requests": sum(h.requests for h in self.hosts.values()),
            "hosts": {k: h.counters() for k, h in sorted(self.hosts.items()) if h.requests or h.answered},
            "interrupted": interrupted,
        }
