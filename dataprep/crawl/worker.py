"""What one fetcher does with a job: the request, the WARC pair, and the summary sent back to the frontier."""

from __future__ import annotations

import logging
from typing import Optional

from dataprep import __version__
from dataprep.crawl.fetch import FetchOutcome, HttpClient, parse_retry_after, redirect_target
from dataprep.crawl.jobs import Job, PageResult, is_retryable, summarize
from dataprep.crawl.params import CrawlParams
from dataprep.crawl.robots import ROBOTS_MAX_BYTES, ROBOTS_MAX_REDIRECTS
from dataprep.crawl.state import CrawlStore
from dataprep.crawl.urls import UrlPolicy, origin
from dataprep.crawl.warc import WarcFileWriter

log = logging.getLogger(__name__)


class CrawlWorker:
    def __init__(self, params: CrawlParams, fetcher_id: int):
        policy = UrlPolicy.build(params.allow_domain, params.seed_urls)
        self.client = HttpClient(params.user_agent, params.max_bytes, params.connect_timeout, params.read_timeout,
                                 params.page_timeout, policy.may_be_private)
        store = CrawlStore(params.out)
        info = {"software": f"raylm-crawler/{__version__}", "format": "WARC File Format 1.1",
                "http-header-user-agent": params.user_agent, "robots": "obey", "isPartOf": store.root.name}
        self.writer = WarcFileWriter(store.warc_dir, store.open_dir, f"crawl-f{fetcher_id:03d}",
                                     params.warc_file_bytes, info)
        self.writer.open()

    def handle(self, job: Job) -> tuple[PageResult, Optional[str]]:
        """Fetch; a final answer is written to the WARC file. Returns the summary and a WARC file this closed."""
        try:
            if job.kind == "robots":
                return self._robots(job), None
            out = self.client.get(job.url)
            result = summarize(out.url, out.status, out.error, out.header, out.body, out.truncated,
                               parse_retry_after(out.header("retry-after"), out.ended))
        except Exception as exc:  # noqa: BLE001 - one odd page is a counted reason, never a stuck host
            log.warning("fetching %s failed: %s: %s", job.url, type(exc).__name__, exc)
            return PageResult(url=job.url, error="fetch_error"), None
        closed = None
        if out.error is None and (job.final or not is_retryable(out.status, None)):
            closed = self.writer.write(out)
        return result, closed

    def _robots(self, job: Job) -> PageResult:
        """robots.txt, following redirects within its own origin only (another origin has its own politeness)."""
        url = job.url
        out: FetchOutcome = self.client.get(url, max_bytes=ROBOTS_MAX_BYTES)
        for _ in range(ROBOTS_MAX_REDIRECTS):
            target = redirect_target(out)
            if target is None or origin(target) != job.origin:
                break
            url = target
            out = self.client.get(url, max_bytes=ROBOTS_MAX_BYTES)
        ok = out.status is not None and 200 <= out.status < 300
        return PageResult(url=job.url, status=out.status, error=out.error, bytes=len(out.body),
                          robots_body=out.body if ok else None)

    def close(self) -> Optional[str]:
        self.client.close()
        return self.writer.close()
