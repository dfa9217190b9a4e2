"""Crawler fixtures: crawl parameters with fast settings, and helpers to read back what the crawl wrote."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from warcio.archiveiterator import ArchiveIterator

from dataprep.crawl.params import CrawlParams

USER_AGENT = "raylm-test/1.0 (+http://127.0.0.1/contact)"


def fast_params(seeds: list[str], out: Path, **overrides) -> CrawlParams:
    """Parameters for tests: loopback hosts named in --allow-domain, 20 requests/s per host, short time-outs."""
    seeds_file = out.with_name(out.name + "-seeds.txt")
    seeds_file.write_text("".join(s + "\n" for s in seeds))
    options = dict(seeds=str(seeds_file), output=str(out), allow_domain=["127.0.0.1"], rate_per_host=20,
                   read_timeout=0.4, connect_timeout=1, retries=1, backoff=0.05, fetchers=2, documents=False,
                   user_agent=USER_AGENT, progress_every=60)
    options.update(overrides)
    return CrawlParams.build(**options)


def warc_records(out: Path) -> list:
    """(type, target URI, http status, headers dict, payload, warc headers dict) of every record under OUT/warc."""
    records = []
    for path in sorted((out / "warc").glob("*.warc.gz")):
        with open(path, "rb") as f:
            for r in ArchiveIterator(f):
                http = r.http_headers
                records.append((r.rec_type, r.rec_headers.get_header("WARC-Target-URI"),
                                int(http.get_statuscode()) if http and r.rec_type == "response" else None,
                                dict(http.headers) if http else {}, r.content_stream().read(),
                                dict(r.rec_headers.headers)))
    return records


def response_paths(out: Path) -> Counter:
    """How many response records each (host, path) has in OUT/warc."""
    return Counter((urlsplit(uri).hostname, urlsplit(uri).path)
                   for rtype, uri, *_ in warc_records(out) if rtype == "response")


@pytest.fixture
def servers():
    started = []

    def start(server):
        started.append(server.start())
        return server

    yield start
    for server in started:
        server.stop()
