"""Stop a crawl mid-way (SIGINT, then SIGKILL of a second run), rerun it, and compare with an uninterrupted crawl.

The crawls run as `dataprep crawl` subprocesses joined to the session's Ray, so the signals hit a real driver.
Judged from the servers' logs: no page is requested twice (at most the pages in flight at the SIGKILL), robots.txt
once per host, and the resumed crawl ends with the same set of pages in its WARC files as the uninterrupted one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from dataprep.distributed.crawl import run_crawl
from tests.conftest import ROOT
from tests.crawl.conftest import USER_AGENT, fast_params, response_paths
from tests.crawl.site import LoggedServer, page

PAGES = 80
MAX_DEPTH = 4
HOSTS = ("127.0.0.1", "127.0.0.3")


def _site() -> tuple[LoggedServer, LoggedServer]:
    """Page i lives on host i % 2 and links to 2i+1, 2i+2 (a tree), i // 3 (back) and 7i % 80 (shortcuts, so
    depths fall as the crawl goes on)."""
    servers = [LoggedServer(h, {}) for h in HOSTS]

    def url(i: int) -> str:
        return f"{servers[i % 2].base}/p/{i}"

    for i in range(PAGES):
        servers[i % 2].routes[f"/p/{i}"] = page(*[url(j) for j in _links(i)])
    for s in servers:
        s.start()
    return servers[0], servers[1]


def _within_depth(max_depth: int) -> set[tuple[str, str]]:
    """The pages an uninterrupted crawl must fetch: breadth-first from page 0, links within max_depth."""
    depth = {0: 0}
    frontier = [0]
    while frontier:
        nxt = []
        for i in frontier:
            for j in _links(i):
                if j not in depth and depth[i] < max_depth:
                    depth[j] = depth[i] + 1
                    nxt.append(j)
        frontier = nxt
    return {(HOSTS[i % 2], f"/p/{i}") for i in depth}


def _links(i: int) -> list[int]:
    return [j for j in (2 * i + 1, 2 * i + 2, i // 3, 7 * i % PAGES) if j < PAGES]


def _params(site, out: Path, documents: bool = False):
    a, b = site
    return fast_params([a.base + "/p/0"], out, allow_domain=list(HOSTS), max_depth=MAX_DEPTH, documents=documents)


def _document_urls(out: Path) -> list[str]:
    from dataprep.dataset import open_dataset

    return sorted(open_dataset(str(out / "docs")).to_table(columns=["url"]).column("url").to_pylist())


def _page_hits(site) -> Counter:
    return Counter((s.host, p) for s in site for p in s.paths())


def _cli(site, out: Path, ray_address: str) -> subprocess.Popen:
    params = _params(site, out)
    args = [sys.executable, "-c", "from dataprep.cli import main; main()", "crawl", "--seeds", params.seeds,
            "-o", str(out), "--rate-per-host", "20", "--max-depth", str(MAX_DEPTH), "--fetchers", "2",
            "--read-timeout", "0.4", "--retries", "1", "--user-agent", USER_AGENT, "--no-docs",
            "--progress-every", "0.2", "--address", ray_address]
    for host in HOSTS:
        args += ["--allow-domain", host]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)


def _signal_after(site, proc: subprocess.Popen, pages: int, sig: int) -> threading.Thread:
    """Send `sig` to the crawl once the servers have seen `pages` page requests (from a thread, so the test
    can run another crawl meanwhile)."""
    def watch():
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if sum(n for (h, p), n in _page_hits(site).items() if p != "/robots.txt") >= pages:
                proc.send_signal(sig)
                return
            time.sleep(0.005)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def sites(ray_local):
    started = [_site(), _site()]
    yield started
    for pair in started:
        for server in pair:
            server.stop()


@pytest.mark.slow  # two `dataprep crawl` processes (signalled) and an uninterrupted crawl: 13-21 s on 2 cores
def test_a_stopped_and_killed_crawl_resumes_to_the_same_pages(sites, ray_local, tmp_path):
    site, twin = sites  # the same pages on two server pairs: the resumed crawl, and an uninterrupted one
    expected = _within_depth(MAX_DEPTH)
    assert 50 < len(expected) < PAGES  # the depth limit cuts this site: depths must be exact

    out = tmp_path / "resumed"
    address = ray_local.get_runtime_context().gcs_address
    first = _cli(site, out, address)
    watcher = _signal_after(site, first, 10, signal.SIGINT)
    whole = run_crawl(_params(twin, tmp_path / "whole", documents=True))  # meanwhile, on the twin servers
    assert response_paths(tmp_path / "whole") == Counter({page: 1 for page in expected})
    for server in twin:  # two fetchers, yet one request at a time per host and at most 20 per second
        hits = sorted(server.hits, key=lambda h: h.start)
        assert all(nxt.start >= prev.end + 1 / 20 for prev, nxt in zip(hits, hits[1:]))
    watcher.join()
    output = first.communicate(timeout=60)[0]
    assert first.returncode == 130, output
    assert "run the same command again to continue" in output
    assert not list((out / "state" / "warc-open").iterdir())  # a clean stop closes every WARC file
    after_sigint = _page_hits(site)
    assert set(after_sigint.values()) == {1} and len(after_sigint) < len(expected)

    second = _cli(site, out, address)
    _signal_after(site, second, sum(after_sigint.values()) + 10, signal.SIGKILL).join()
    second.wait(timeout=30)
    assert second.returncode == -signal.SIGKILL

    stats = run_crawl(_params(site, out, documents=True))
    hits = _page_hits(site)
    assert hits[(HOSTS[0], "/robots.txt")] == 1 and hits[(HOSTS[1], "/robots.txt")] == 1
    twice = {k: n for k, n in hits.items() if n > 1}
    assert sum(twice.values()) - len(twice) <= len(HOSTS), twice  # only what was in flight at the SIGKILL
    assert response_paths(out) == Counter({page: 1 for page in expected})  # each once, salvaged files included
    assert stats["pages"] == whole["pages"] == len(expected) and stats["dropped"] == whole["dropped"]
    # ... and the same documents, made from the WARC files by the WARC source (twin servers: other ports)
    resumed_docs, whole_docs = _document_urls(out), _document_urls(tmp_path / "whole")
    strip = lambda urls: sorted(u.split("/", 3)[3] for u in urls)  # noqa: E731 - host and port differ
    assert len(resumed_docs) == len(expected) and strip(resumed_docs) == strip(whole_docs)
    assert whole["dropped"]["max_depth"] > 0
