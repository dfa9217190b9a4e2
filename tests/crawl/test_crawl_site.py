"""A crawl of a real loopback site with every hazard the crawler must handle, judged from the servers' own logs."""

from __future__ import annotations

import io
import json
from collections import Counter

import pytest

from dataprep.distributed.crawl import run_crawl
from tests.crawl.conftest import USER_AGENT, fast_params, warc_records
from tests.crawl.site import LoggedServer, big, big_body, fails_first, gzip_bomb, page, redirect, slow, text

MiB = 1024 * 1024
CRAWL_DELAY = 0.08  # from robots.txt; longer than 1 / --rate-per-host (0.05 s), so it is the interval that holds
ROBOTS = ("User-agent: *\nDisallow: /\n\n"  # only the group of our product token lets us in
          f"User-agent: raylm-test\nDisallow: /secret/\nCrawl-delay: {CRAWL_DELAY}\n")


@pytest.fixture(scope="module")
def site(ray_local, tmp_path_factory):
    other = LoggedServer("127.0.0.2", {"/": page(), "/from-redirect": page()}).start()
    a = LoggedServer("127.0.0.1", {})
    a.routes.update({
        "/robots.txt": text(ROBOTS),
        "/": page("/a", "/b", "/secret/x", "/redir-ok", "/redir-off", "/redir-file", "/redir-secret", "/slow", "/big", "/bomb",
                  "/flaky", "/busy", "/missing", "/loop/0", other.base + "/", "http://example.com/off",
                  "ftp://127.0.0.1/file", "mailto:someone@example.com",
                  a.base.upper() + "/a#section", "/x/../b"),
        "/a": page("/a/1"), "/a/1": page("/a/2"), "/a/2": page("/a/3"), "/a/3": page(), "/b": page("/a"),
        "/c": page(),
        "/redir-ok": redirect("/c"),
        "/redir-off": redirect(other.base + "/from-redirect"),
        "/redir-file": redirect("file:///etc/passwd"),
        "/redir-secret": redirect("/secret/y"),  # a redirect target is checked against robots.txt too
        "/slow": slow(1.2),  # past --read-timeout 0.4, twice (one retry)
        "/big": big(5_000_000),
        "/bomb": gzip_bomb(20_000_000),  # 20 KB on the wire, 20 MB decoded
        "/flaky": fails_first(500),
        "/busy": fails_first(429, [("Retry-After", "1")]),
        **{f"/loop/{i}": redirect(f"/loop/{i + 1}") for i in range(7)},
    })
    a.start()
    out = tmp_path_factory.mktemp("crawl") / "out"
    # small WARC files: the 1 MiB bodies make the fetchers close files and start new ones mid-crawl
    params = fast_params([a.base + "/"], out, max_depth=3, progress_every=0.5, warc_file_bytes=64 * 1024,
                         documents=True)
    progress = io.StringIO()  # not a terminal: plain periodic lines
    stats = run_crawl(params, out=progress)
    yield a, other, out, stats, progress.getvalue().splitlines()
    a.stop()
    other.stop()


def test_forbidden_targets_are_never_requested(site):
    a, other, out, stats, lines = site
    assert other.paths() == []  # 127.0.0.2 is not allowlisted: neither the link nor the redirect reached it
    paths = a.paths()
    for never in ("/secret/x", "/secret/y", "/a/3", "/loop/5", "/loop/6"):
        assert never not in paths
    assert not any("passwd" in p or p.startswith("ftp") for p in paths)
    counts = Counter(paths)
    retried = {"/flaky": 2, "/busy": 2, "/slow": 2}
    assert {p: n for p, n in counts.items() if n > 1} == retried  # everything else exactly once
    # 'HTTP://127.0.0.1:PORT/a#section' is /a, '/x/../b' is /b: normalized URLs are fetched once
    assert counts["/a"] == 1 and counts["/b"] == 1
    assert {h.user_agent for h in a.hits} == {USER_AGENT}


def test_every_url_not_fetched_is_counted_by_reason(site):
    a, other, out, stats, lines = site
    assert stats["dropped"] == {
        "robots_disallowed": 2,  # /secret/x, /secret/y (behind /redir-secret)
        "off_allowlist": 3,  # 127.0.0.2/, 127.0.0.2/from-redirect, example.com
        "bad_scheme": 3,  # file:///etc/passwd, ftp:, mailto:
        "max_depth": 1,  # /a/3
        "too_many_redirects": 1,  # /loop/5
        "timeout": 1,  # /slow
        "http_status_404": 1,
        "redirect": 9,  # /redir-ok, /redir-off, /redir-file, /redir-secret, /loop/0..4
    }
    assert stats["rows_out"] == stats["pages"] == 10
    assert stats["rows_in"] == stats["rows_out"] + sum(stats["dropped"].values())
    assert stats["hosts"] == {a.base: {"pages": 10, "answered": 20, "bytes": stats["bytes"], "requests": len(a.hits)}}
    assert stats["bytes"] > 2 * MiB  # two bodies cut at --max-bytes
    assert json.loads((out / "state" / "stats.json").read_text()) == stats


def test_one_request_at_a_time_and_the_crawl_delay_holds(site):
    a, *_ = site
    hits = sorted(a.hits, key=lambda h: h.start)
    for prev, nxt in zip(hits, hits[1:]):
        if prev.path == "/slow":  # the crawler gave up after 0.4 s; this server thread only ends at 1.2 s
            assert nxt.start >= prev.start + CRAWL_DELAY
            continue
        assert nxt.start >= prev.end + CRAWL_DELAY, (prev, nxt)
        if prev.status == 429:
            assert nxt.start >= prev.end + 1.0  # Retry-After: 1 paused the whole host


def test_warc_pairs_truncation_and_decoded_bodies(site):
    a, other, out, stats, lines = site
    records = warc_records(out)
    assert not list((out / "state" / "warc-open").iterdir())  # every file closed and renamed
    assert len(list((out / "warc").iterdir())) >= 3
    responses = {}
    previous = None
    for rtype, uri, status, http, payload, warc in records:
        if rtype == "response":
            assert uri not in responses
            assert previous[0] == "request" and previous[1] == uri  # request + response pairs
            assert previous[5]["WARC-Concurrent-To"] == warc["WARC-Record-ID"]
            responses[uri] = (status, http, payload, warc)
        previous = (rtype, uri, status, http, payload, warc)
    paths = {uri.removeprefix(a.base): v[0] for uri, v in responses.items()}
    assert paths == {"/": 200, "/a": 200, "/a/1": 200, "/a/2": 200, "/b": 200, "/c": 200, "/big": 200,
                     "/bomb": 200, "/flaky": 200, "/busy": 200, "/missing": 404, "/redir-ok": 302, "/redir-off": 302,
                     "/redir-file": 302, "/redir-secret": 302, **{f"/loop/{i}": 302 for i in range(5)}}
    status, http, payload, warc = responses[a.base + "/big"]
    assert warc["WARC-Truncated"] == "length" and payload == big_body(5_000_000)[:MiB]
    status, http, payload, warc = responses[a.base + "/bomb"]
    assert warc["WARC-Truncated"] == "length" and len(payload) == MiB and payload.startswith(b"<html><body>\0\0")
    assert http["X-Crawler-Content-Encoding"] == "gzip" and "Content-Encoding" not in http
    assert http["Content-Length"] == str(MiB)
    assert "WARC-Truncated" not in responses[a.base + "/c"][3]


def test_a_seed_on_a_private_address_is_refused_before_any_request(ray_local, servers, tmp_path):
    private = servers(LoggedServer("127.0.0.2", {"/": page()}))
    out = tmp_path / "out"
    # 127.0.0.2 is a seed host (so allowed) but not named in --allow-domain: a loopback address is refused
    stats = run_crawl(fast_params([private.base + "/"], out, fetchers=1))
    assert private.paths() == []
    assert stats["dropped"] == {"private_address": 1} and stats["pages"] == stats["requests"] == 0


def test_progress_lines(site):
    *_, lines = site
    assert len(lines) >= 3 and all(line.startswith("crawl: ") for line in lines)
    assert lines[-1].startswith("crawl: 10 pages fetched (20 answered") and "queue 0, in flight 0, hosts 1" in lines[-1]


def test_docs_dataset_has_the_crawl_as_its_first_stage(site):
    from dataprep.dataset import open_dataset

    _, _, out, stats, _ = site
    docs = open_dataset(str(out / "docs"))
    crawl, ingest = docs.manifest.stats["stages"][:2]
    assert (crawl["name"], crawl["rows_in"], crawl["rows_out"]) == ("crawl", stats["rows_in"], stats["rows_out"])
    assert crawl["dropped"] == stats["dropped"] and ingest["name"] == "ingest"
    assert docs.manifest.stats["crawl"]["pages"] == stats["pages"]
    assert docs.manifest.rows > 0 and all(u.startswith("http://127.0.0.1:") for u in
                                          docs.to_table(columns=["url"]).column("url").to_pylist())
