"""The crawler's pure parts, without Ray or network: URLs, parameters, robots.txt, address guard, frontier, WARC."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dataprep.cli import app
from dataprep.crawl.fetch import FetchOutcome, Refused, is_public_address, vetted_address
from dataprep.crawl.frontier import Frontier
from dataprep.crawl.jobs import Job, PageResult
from dataprep.crawl.links import extract_links
from dataprep.crawl.params import CrawlParams
from dataprep.crawl.robots import ROBOTS_MAX_BYTES, RobotsRules, product_token, robots_outcome
from dataprep.crawl.urls import UrlPolicy, normalize_url, origin
from dataprep.crawl.warc import WarcFileWriter, read_responses, salvage
from dataprep.errors import UserError
from tests.crawl.conftest import USER_AGENT


def test_normalization_makes_one_page_one_url():
    same = ["HTTP://Example.COM:80/a/../b/./c#frag", "http://example.com/b/c", "http://EXAMPLE.com/b/%63"]
    assert {normalize_url(u) for u in same} == {"http://example.com/b/c"}
    assert normalize_url("https://example.com:443") == "https://example.com/"
    assert normalize_url("https://例え.jp/ä") == "https://xn--r8jz45g.jp/%C3%A4"
    assert normalize_url("../x?b=1&a=2#top", "http://h.test/d/e/f") == "http://h.test/d/x?b=1&a=2"  # query order kept
    assert normalize_url("http:///nohost") is None and normalize_url("http://h.test:99999/") is None
    assert normalize_url("file:///etc/passwd") == "file:///etc/passwd"  # kept, so it can be counted as bad_scheme
    assert origin("http://h.test/x") == "http://h.test:80" and origin("https://h.test:8443/") == "https://h.test:8443"


def test_allowlist_semantics():
    policy = UrlPolicy.build(["Example.org", "10.1.2.3"], ["http://seed.test/start", "http://127.0.0.2:8000/"])
    assert policy.check("http://seed.test:81/other") is None  # a seed's host, any port and scheme
    assert policy.check("https://seed.test/") is None
    assert policy.check("http://www.seed.test/") == "off_allowlist"  # seeds allow their exact host only
    assert policy.check("http://deep.www.example.org/") is None  # --allow-domain: the domain and its subdomains
    assert policy.check("http://notexample.org/") == "off_allowlist"
    assert policy.check("http://10.1.2.30/") == "off_allowlist"  # an IP entry matches that address only
    assert policy.check("ftp://example.org/") == "bad_scheme" and policy.check("mailto:a@example.org") == "bad_scheme"
    # only hosts named in --allow-domain may resolve to private addresses; a seed host may not
    assert policy.may_be_private("10.1.2.3") and policy.may_be_private("a.example.org")
    assert not policy.may_be_private("127.0.0.2") and not policy.may_be_private("seed.test")


def test_address_guard_without_sending_anything():
    for ip in ("127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
               "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "224.0.0.1"):
        assert not is_public_address(ip), ip
    assert is_public_address("8.8.8.8") and is_public_address("2001:4860:4860::8888")
    with pytest.raises(Refused) as refused:
        vetted_address("127.0.0.1", 80, allow_private=False)  # an IP literal: no DNS query, no packet
    assert refused.value.reason == "private_address"
    assert vetted_address("127.0.0.1", 80, allow_private=True) == "127.0.0.1"


def test_parameters_fail_early_with_one_line(tmp_path):
    seeds = tmp_path / "seeds.txt"
    with pytest.raises(UserError, match="seeds file .*missing.txt not found"):
        CrawlParams.build(seeds=str(tmp_path / "missing.txt"), output=str(tmp_path / "o"))
    seeds.write_text("# only a comment\n\n")
    with pytest.raises(UserError, match="has no URLs"):
        CrawlParams.build(seeds=str(seeds), output=str(tmp_path / "o"))
    seeds.write_text("http://ok.test/\nexample.com/no-scheme\n")
    with pytest.raises(UserError, match="line 2: 'example.com/no-scheme' is not an http"):
        CrawlParams.build(seeds=str(seeds), output=str(tmp_path / "o"))
    seeds.write_text("http://ok.test/\nHTTP://OK.test:80/#x\n")
    params = CrawlParams.build(seeds=str(seeds), output=str(tmp_path / "o"))
    assert params.seed_urls == ["http://ok.test/"] and params.rate_per_host == 1.0 and params.max_bytes == 1 << 20
    with pytest.raises(UserError, match="--rate-per-host: Input should be greater than 0"):
        CrawlParams.build(seeds=str(seeds), output=str(tmp_path / "o"), rate_per_host=0)
    with pytest.raises(UserError, match="--user-agent: must name a contact URL"):
        CrawlParams.build(seeds=str(seeds), output=str(tmp_path / "o"), user_agent="anonymous-bot/1.0")
    with pytest.raises(UserError, match="--allow-domain.*not 'http://x.test/'"):
        CrawlParams.build(seeds=str(seeds), output=str(tmp_path / "o"), allow_domain=["http://x.test/"])
    result = CliRunner().invoke(app, ["crawl", "--seeds", str(tmp_path / "nope.txt"), "-o", str(tmp_path / "out"),
                                      "--max-pages", "5"])
    assert result.exit_code == 1 and "seeds file" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "out").exists()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("a user's file")
    result = CliRunner().invoke(app, ["crawl", "--seeds", str(seeds), "-o", str(tmp_path / "mine")])
    assert result.exit_code == 1 and "not a crawl folder" in result.output  # never writes into a user's folder


def test_robots_groups_by_product_token_and_the_500_kib_cap():
    token = product_token(USER_AGENT)
    assert token == "raylm-test"
    rules = RobotsRules("User-agent: *\nDisallow: /\n\nUser-agent: raylm-test\nDisallow: /private\nCrawl-delay: 0.5\n")
    assert rules.can_fetch("http://h.test/page", token) and not rules.can_fetch("http://h.test/private/x", token)
    assert not rules.can_fetch("http://h.test/page", "otherbot") and rules.crawl_delay(token) == 0.5
    padding = "# " + "x" * ROBOTS_MAX_BYTES + "\n"
    late = RobotsRules.from_body(f"User-agent: *\n{padding}Disallow: /\n".encode())
    assert late.can_fetch("http://h.test/page", token)  # the rule past 500 KiB is not read
    assert [robots_outcome(s, None) for s in (200, 404, 403, 429, 500, 503)] == \
           ["rules", "allow", "allow", "defer", "defer", "defer"]
    assert robots_outcome(None, "timeout") == "defer"


def test_links_honour_base_and_nofollow():
    body = (b'<html><head><base href="/dir/"></head><body><a href="a">1</a><a href="/b#x">2</a>'
            b'<a rel="nofollow" href="c">3</a><a href="mailto:x@y.test">4</a><area href="d"></body></html>')
    assert extract_links(body, "http://h.test/page") == ["http://h.test/dir/a", "http://h.test/b",
                                                          "mailto:x@y.test", "http://h.test/dir/d"]
    assert extract_links(b'<meta name="robots" content="noindex, nofollow"><a href="/a">x</a>', "http://h.test/") == []


# ---- the frontier, driven by hand with a fake clock --------------------------------------------------------------


def _frontier(tmp_path: Path, seeds: list[str], seeded: bool = True, **options) -> Frontier:
    seeds_file = tmp_path / "seeds.txt"
    seeds_file.write_text("\n".join(seeds))
    options = {"allow_domain": ["a.test", "b.test"], "rate_per_host": 10, "user_agent": USER_AGENT, **options}
    frontier = Frontier(CrawlParams.build(seeds=str(seeds_file), output=str(tmp_path / "out"), **options))
    if seeded:
        frontier.add_seeds(frontier.p.seed_urls)
    return frontier


def _answer(f: Frontier, job: Job, now: float, status=200, links=(), **kw) -> None:
    f.complete(job, PageResult(url=job.url, status=status, links=list(links), **kw), now)


def _allow_robots(f: Frontier, now: float) -> None:
    job = f.lease(now)
    assert job.kind == "robots"
    f.complete(job, PageResult(url=job.url, status=404), now)


def test_serving_order_one_in_flight_and_rate_per_host(tmp_path):
    f = _frontier(tmp_path, ["http://a.test/", "http://b.test/"])
    robots = [f.lease(0.0), f.lease(0.0)]
    assert sorted(j.url for j in robots) == ["http://a.test/robots.txt", "http://b.test/robots.txt"]
    assert isinstance(f.lease(0.0), float)  # both hosts busy: wait
    for job in robots:
        f.complete(job, PageResult(url=job.url, status=404), 0.0)
    assert isinstance(f.lease(0.05), float)  # 10 requests/s: 0.1 s after the robots.txt answer
    first = f.lease(0.1)
    assert first.url == "http://a.test/"  # (depth, URL) order across hosts
    _answer(f, first, 0.1, links=["http://a.test/z", "http://a.test/y", "http://b.test/x"])
    assert f.lease(0.1).url == "http://b.test/"  # depth 0 before depth 1
    assert isinstance(f.lease(0.15), float)  # a.test answered at 0.1: not before 0.2
    assert f.lease(0.2).url == "http://a.test/y"  # same depth: URL order


def test_depth_is_the_shortest_path_even_when_found_late(tmp_path):
    f = _frontier(tmp_path, ["http://a.test/", "http://b.test/"], max_depth=2)
    _allow_robots(f, 0.0)
    _allow_robots(f, 0.0)
    a = f.lease(1.0)  # a.test/ (depth 0)
    _answer(f, a, 1.0, links=["http://a.test/1"])
    b = f.lease(2.0)
    assert b.url == "http://b.test/"  # depth 0 first; its answer comes late
    a1 = f.lease(2.0)
    assert a1.url == "http://a.test/1"
    _answer(f, a1, 2.0, links=["http://a.test/2"])
    a2 = f.lease(3.0)
    _answer(f, a2, 3.0, links=["http://a.test/3"])  # a.test/3 at depth 3 > 2: dropped
    assert f.urls["http://a.test/3"].status == "max_depth"
    _answer(f, b, 3.0, links=["http://a.test/2"])  # a.test/2 is in fact at depth 1: its link comes back
    assert f.urls["http://a.test/2"].depth == 1
    assert f.urls["http://a.test/3"].status == "queued" and f.urls["http://a.test/3"].depth == 2
    a3 = f.lease(4.0)
    assert a3.url == "http://a.test/3"
    _answer(f, a3, 4.0)
    assert f.lease(5.0) is None and f.stats()["dropped"] == {} and f.stats()["pages"] == 5


def test_retry_after_backoff_and_max_pages(tmp_path):
    f = _frontier(tmp_path, ["http://a.test/", "http://b.test/"], max_pages=2, robots_retry=10, backoff=1.0,
                  retries=2)
    ra, rb = f.lease(0.0), f.lease(0.0)
    f.complete(ra, PageResult(url=ra.url, status=404), 0.0)
    f.complete(rb, PageResult(url=rb.url, status=503), 0.0)  # robots.txt 5xx: b.test waits 10 s
    page = f.lease(1.0)
    assert page.url == "http://a.test/" and isinstance(f.lease(1.0), float)
    _answer(f, page, 1.0, status=429, retry_after=5.0)  # Retry-After (5 s) beats the back-off (1 s)
    assert isinstance(f.lease(5.9), float)
    again = f.lease(6.0)
    assert again.url == "http://a.test/" and again.attempt == 1 and not again.final
    _answer(f, again, 6.0, status=500)  # second failure in a row: 2 s
    assert isinstance(f.lease(7.9), float)
    last = f.lease(8.0)
    assert last.final  # --retries 2: this answer is kept, whatever it is
    _answer(f, last, 8.0, links=["http://a.test/1", "http://a.test/2"])
    one = f.lease(8.1)
    assert one.url == "http://a.test/1" and isinstance(f.lease(9.0), float)  # 1 answered + 1 out = --max-pages
    _answer(f, one, 9.0)
    assert f.lease(20.0) is None  # --max-pages reached: b.test's robots.txt is not even asked again
    stats = f.stats()
    assert stats["pages"] == stats["answered"] == 2 and stats["dropped"] == {"max_pages": 2}


def test_robots_txt_unavailable_defers_then_gives_up(tmp_path):
    f = _frontier(tmp_path, ["http://b.test/"], robots_retry=10, robots_attempts=3)
    f.complete(f.lease(0.0), PageResult(url="http://b.test/robots.txt", status=500), 0.0)
    assert f.lease(9.9) == pytest.approx(0.1)
    f.complete(f.lease(10.0), PageResult(url="http://b.test/robots.txt", error="timeout"), 10.0)
    assert isinstance(f.lease(29.9), float)  # doubled: 20 s
    f.complete(f.lease(30.0), PageResult(url="http://b.test/robots.txt", status=503), 30.0)
    assert f.lease(31.0) is None
    assert f.stats()["dropped"] == {"robots_unavailable": 1}
    assert [e["kind"] for e in f.drain_journal()] == ["defer", "defer", "defer"]


def test_crawl_delay_too_long_and_private_hosts_are_skipped(tmp_path):
    f = _frontier(tmp_path, ["http://a.test/", "http://b.test/"], max_crawl_delay=30)
    ra, rb = f.lease(0.0), f.lease(0.0)
    f.complete(ra, PageResult(url=ra.url, status=200, robots_body=b"User-agent: *\nCrawl-delay: 31\n"), 0.0)
    f.complete(rb, PageResult(url=rb.url, error="private_address"), 0.0)
    f.discover("http://a.test/later", 1, 0)
    assert f.lease(100.0) is None
    assert f.stats()["dropped"] == {"crawl_delay_too_long": 2, "private_address": 1}


def test_snapshot_restore_continues_where_it_stopped(tmp_path):
    f = _frontier(tmp_path, ["http://a.test/"])
    _allow_robots(f, 0.0)
    job = f.lease(1.0)
    _answer(f, job, 1.0, links=["http://a.test/1", "http://a.test/2", "http://elsewhere.test/"])
    leased = f.lease(2.0)
    snap = f.snapshot()  # a leased URL is saved as queued: it was not answered
    g = _frontier(tmp_path, ["http://a.test/"], seeded=False)
    g.restore(snap)
    for event in [{"origin": "http://a.test:80", "kind": "allow", "time": 0.0}]:
        g.host_event(event, record=False)
    assert g.lease(3.0).url == leased.url
    assert g.stats()["rows_in"] == 4 and g.stats()["dropped"] == {"off_allowlist": 1, "unfinished": 2}


# ---- WARC files ---------------------------------------------------------------------------------------------------


def _outcome(url: str, body: bytes, **kw) -> FetchOutcome:
    return FetchOutcome(url=url, started=1.0, ended=1.1, status=200, reason_phrase="OK",
                        headers=[("Content-Type", "text/html"), ("Content-Encoding", "gzip")], body=body,
                        request_headers=[("Host", "h.test")], **kw)


def test_salvage_keeps_complete_pairs_of_a_killed_writer(tmp_path):
    warc, open_dir = tmp_path / "warc", tmp_path / "open"
    warc.mkdir()
    writer = WarcFileWriter(warc, open_dir, "t", 1 << 30, {"software": "test"})
    for i in range(3):
        writer.write(_outcome(f"http://h.test/{i}", b"<p>page %d</p>" % i, truncated=(i == 1)))
    (path,) = open_dir.iterdir()
    data = path.read_bytes()
    path.write_bytes(data[:-25])  # the last response cut mid-member, as a SIGKILL can leave it
    writer._file = None  # the killed writer never closes
    moved = salvage(open_dir, warc)
    assert moved == [path.name] and not list(open_dir.iterdir())
    stored = list(read_responses(warc / path.name))
    assert [(r.url, r.body, r.truncated) for r in stored] == [("http://h.test/0", b"<p>page 0</p>", False),
                                                             ("http://h.test/1", b"<p>page 1</p>", True)]
    assert stored[0].header("X-Crawler-Content-Encoding") == "gzip" and stored[0].header("Content-Encoding") is None
    with gzip.open(warc / path.name) as f:
        assert f.read().count(b"WARC-Type: request") == 2
