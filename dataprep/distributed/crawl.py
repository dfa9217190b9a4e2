"""The crawler on Ray: one frontier actor, `--fetchers` fetcher tasks pulling jobs from it, a driver that watches.

The frontier actor is the only place that decides what is requested when, so the per-host rules (one request in
flight, --rate-per-host, Crawl-delay, back-off) hold across all fetchers together. The frontier and the fetchers
run on the driver's node: WARC files are renamed into OUT/warc atomically, which needs one local file system.

Ctrl-C (SIGINT) stops leasing, lets the requests in flight finish, closes the WARC files and saves the state; a
second Ctrl-C, or a killed driver, leaves open WARC files that the next run salvages. Rerunning the same command
continues the crawl.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable, Optional, TextIO

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from dataprep.crawl.params import CrawlParams
from dataprep.crawl.progress import progress_line
from dataprep.crawl.state import CrawlStore, open_frontier
from dataprep.errors import EXIT_INTERRUPTED, UserError

FETCHER_POLL_S = 0.1  # longest nap of an idle fetcher: new URLs may become ready on another host meanwhile
TTY_REFRESH_S = 0.5


class CrawlInterrupted(UserError):
    """The crawl was stopped with its state saved; the CLI exits 130."""

    exit_code = EXIT_INTERRUPTED


@ray.remote(num_cpus=0, max_concurrency=1)
class FrontierActor:
    def __init__(self, params: CrawlParams):
        self.params = params
        self.store = CrawlStore(params.out)
        self.frontier = None
        self.saved_at = 0.0

    def open(self) -> dict:
        self.store.lock()
        self.frontier = open_frontier(self.params, self.store)
        self.saved_at = time.time()
        return self.frontier.progress()

    def lease(self):
        job = self.frontier.lease(time.time())
        self._persist()
        return job

    def complete(self, job, result, closed_warc: Optional[str]) -> None:
        self.frontier.complete(job, result, time.time())
        if closed_warc:
            self.frontier.warc_closed(closed_warc)
        self._persist()

    def warc_closed(self, name: str) -> None:
        self.frontier.warc_closed(name)

    def stop(self) -> None:
        self.frontier.stopping = True

    def progress(self) -> dict:
        return self.frontier.progress()

    def finish(self, interrupted: bool) -> dict:
        self._persist(force=True)
        stats = self.frontier.stats(interrupted)
        self.store.write_stats(stats)
        self.store.unlock()
        return stats

    def _persist(self, force: bool = False) -> None:
        events = self.frontier.drain_journal()
        if events:
            self.store.append_events(events)
        now = time.time()
        if force or now - self.saved_at >= self.params.checkpoint_every:
            self.store.save_frontier(self.frontier.snapshot())
            self.saved_at = now


@ray.remote(num_cpus=0, max_retries=0)
def fetch_loop(params: CrawlParams, fetcher_id: int, frontier) -> int:
    """One fetcher: lease, fetch, report, until the frontier says the crawl is over. Returns the jobs done.

    A task, not an actor: its worker process goes back to Ray's pool afterwards, so the next crawl starts faster.
    """
    from dataprep.crawl.worker import CrawlWorker

    worker = CrawlWorker(params, fetcher_id)
    done = 0
    try:
        while True:
            job = ray.get(frontier.lease.remote())
            if job is None:
                break
            if isinstance(job, float):
                time.sleep(min(job, FETCHER_POLL_S))
                continue
            result, closed = worker.handle(job)
            ray.get(frontier.complete.remote(job, result, closed))
            done += 1
    finally:
        closed = worker.close()
        if closed:
            ray.get(frontier.warc_closed.remote(closed))
    return done


def run_crawl(params: CrawlParams, address: Optional[str] = None, out: TextIO = sys.stdout,
              log: Callable[[str], None] = print, workers: Optional[int] = None) -> dict:
    """Crawl (or continue crawling) into params.output, then build OUT/docs when params.documents.

    Returns the crawl stats (also in OUT/state/stats.json). Raises CrawlInterrupted after a Ctrl-C, state saved.
    """
    from dataprep.distributed.runtime import ray_session

    store = CrawlStore(params.out)
    resuming = store.prepare(params.model_dump(mode="json"))
    if resuming:
        log(f"continuing the crawl in {params.output}")
    with ray_session(address):
        stats = _crawl(params, out)
        if params.documents:
            build_documents(params.output, workers)
    return stats


def build_documents(output: str, workers: Optional[int] = None):
    """OUT/docs, a `documents` dataset made from OUT/warc by the WARC source. Returns its manifest.

    The `crawl` stage of its manifest is OUT/state/stats.json (name, rows_in, rows_out, dropped, ...).
    """
    import json
    from collections import Counter

    from dataprep.dataset.stats import StageCount
    from dataprep.distributed.executor import run_sharded_job
    from dataprep.ingest import IngestJob
    from dataprep.steps import Ingest

    root = output.rstrip("/")
    job = IngestJob(Ingest(inputs=[f"{root}/warc"], output=f"{root}/docs", format="warc"), f"{root}/docs")
    stats = json.loads(Path(f"{root}/state/stats.json").read_text())
    job.prior_stages = [StageCount("crawl", stats["rows_in"], stats["rows_out"], Counter(stats["dropped"]))]
    job.prior_sections = {"crawl": {k: v for k, v in stats.items() if k not in ("name", "rows_in", "rows_out",
                                                                              "dropped")}}
    manifest, _ = run_sharded_job(job, workers)
    return manifest


def _crawl(params: CrawlParams, out: TextIO) -> dict:
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    frontier = FrontierActor.options(scheduling_strategy=here).remote(params)
    runs = []
    interrupted = False
    try:
        ray.get(frontier.open.remote())
        runs = [fetch_loop.options(scheduling_strategy=here).remote(params, i, frontier)
                for i in range(params.fetchers)]
        try:
            _watch(frontier, runs, params, out)
        except KeyboardInterrupt:
            interrupted = True
            print("\nstopping: finishing the requests in flight and closing WARC files "
                  "(Ctrl-C again to abort; the next run salvages what was written)", file=out, flush=True)
            ray.get(frontier.stop.remote())
            ray.get(runs)
        stats = ray.get(frontier.finish.remote(interrupted))
    finally:
        for run in runs:
            ray.cancel(run, force=True)  # no-op for the fetchers that already returned
        ray.kill(frontier)
    if interrupted:
        raise CrawlInterrupted(f"interrupted after {stats['pages']:,} pages; the state is in {params.output}/state: "
                               "run the same command again to continue")
    return stats


def _watch(frontier, runs: list, params: CrawlParams, out: TextIO) -> None:
    """Wait for the fetchers, printing a live line on a terminal and a plain line every progress_every otherwise."""
    tty = out.isatty()
    started = time.time()
    last = started
    pending = list(runs)
    while pending:
        done, pending = ray.wait(pending, num_returns=len(pending), timeout=TTY_REFRESH_S)
        ray.get(done)  # a fetcher that failed (a full disk, say) stops the crawl now, not at the end
        now = time.time()
        if tty:
            line = progress_line(ray.get(frontier.progress.remote()), now - started)
            out.write("\r" + line[:200].ljust(120))
            out.flush()
        elif now - last >= params.progress_every:
            print(progress_line(ray.get(frontier.progress.remote()), now - started), file=out, flush=True)
            last = now
    line = progress_line(ray.get(frontier.progress.remote()), time.time() - started)
    print(("\r" if tty else "") + line, file=out, flush=True)
