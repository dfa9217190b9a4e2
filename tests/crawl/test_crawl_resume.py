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
import time
from collections import Counter
from pathlib import Path

import pytest

from dataprep.distributed.crawl import run_crawl
from tests.conftest import ROOT
from tests.crawl.conftest import USER_AGENT, fast_params, response_paths
from tests.crawl.site import LoggedServer, page

PAGES = 80
HOSTS = ("127.0.0.1", "127.0.0.3")


def _site() -> tuple[LoggedServer, LoggedServer]:
    """Page i lives on host i % 2 and links to 2i+1, 2i+2 (a tree), i // 3 (back) and 7i % 80 (shortcuts, so
    depths fall as the crawl goes on)."""
    servers = [LoggedServer(h, {}) for h in HOSTS]

    def url(i: int) -> str:
        return f"{servers[i % 2].base}/p/{i}"

    for i in range(PAGES):
        links = [url(j) for j in (2 * i + 1, 2 * i + 2, i // 3, 7 * i % PAGES) if j < PAGES]
        servers[i % 2].routes[f"/p/{i}"] = page(*links)
    for s in servers:
        s.start()
    return servers[0], servers[1]


@pytest.fixture(scope="module")
def site(ray_local):
    a, b = _site()
    yield a, b
    a.stop()
    b.stop()


def _params(site, out: Path):
    a, b = site
    return fast_params([a.base + "/p/0"], out, allow_domain=list(HOSTS), max_depth=4)


def _page_hits(site) -> Counter:
    return Counter((s.host, p) for s in site for p in s.paths())


def _cli(site, out: Path, ray_address: str) -> subprocess.Popen:
    params = _params(site, out)
    args = [sys.executable, "-c", "from dataprep.cli import main; main()", "crawl", "--seeds", params.seeds,
            "-o", str(out), "--rate-per-host", "20", "--max-depth", "4", "--fetchers", "2", "--read-timeout", "0.4",
            "--retries", "1", "--user-agent", USER_AGENT, "--no-docs", "--progress-every", "0.2",
            "--address", ray_address]
    for host in HOSTS:
        args += ["--allow-domain", host]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)


def _wait_for_pages(site, proc: subprocess.Popen, count: int) -> None:
    deadline = time.time() + 60
    while sum(n for (h, p), n in _page_hits(site).items() if p != "/robots.txt") < count:
        assert proc.poll() is None, proc.stdout.read()
        assert time.time() < deadline, "the crawl did not start"
        time.sleep(0.01)


def test_a_stopped_and_killed_crawl_resumes_to_the_same_pages(site, ray_local, tmp_path):
    for s in site:
        s.reset()
    whole = run_crawl(_params(site, tmp_path / "whole"))
    expected = response_paths(tmp_path / "whole")
    assert set(expected.values()) == {1} and whole["pages"] == len(expected) > 50
    assert whole["dropped"].get("max_depth", 0) > 0  # the depth limit cuts this site: depths must be exact

    for s in site:
        s.reset()
    out = tmp_path / "resumed"
    address = ray_local.get_runtime_context().gcs_address
    first = _cli(site, out, address)
    _wait_for_pages(site, first, 10)
    first.send_signal(signal.SIGINT)
    output = first.communicate(timeout=60)[0]
    assert first.returncode == 130, output
    assert "run the same command again to continue" in output
    assert not list((out / "state" / "warc-open").iterdir())  # a clean stop closes every WARC file
    after_sigint = _page_hits(site)
    assert set(after_sigint.values()) == {1}

    second = _cli(site, out, address)
    _wait_for_pages(site, second, sum(after_sigint.values()) + 10)
    second.send_signal(signal.SIGKILL)
    second.wait(timeout=30)

    stats = run_crawl(_params(site, out))
    hits = _page_hits(site)
    assert hits[(HOSTS[0], "/robots.txt")] == 1 and hits[(HOSTS[1], "/robots.txt")] == 1
    twice = {k: n for k, n in hits.items() if n > 1}
    assert sum(twice.values()) - len(twice) <= len(HOSTS), twice  # only what was in flight at the SIGKILL
    got = response_paths(out)
    assert set(got.values()) == {1}  # each page once in the WARC files, salvaged ones included
    assert set(got) == set(expected)
    assert stats["pages"] == whole["pages"] and stats["dropped"] == whole["dropped"]
