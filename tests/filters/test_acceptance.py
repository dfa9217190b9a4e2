"""The default chain on real extracted pages: every Chinese news/blog page and >= 20 of the 21 English gold pages kept,
>= 90% of the hand-labelled spam (cc_2020-34_labels.tsv, written before any threshold) dropped, each drop named."""

from __future__ import annotations

import csv

import pytest

from dataprep.filters import FilterChain, default_config
from tests.filters.conftest import FIXTURES

# Which default filter drops which Common Crawl page, and why (value vs threshold in the comment).
EXPECTED_DROPS = {
    "http://096355.com/video/11073.html?11073-0-2": ("text_checks", "empty_text"),  # trafilatura found no text
    "http://01spb.ru/company/": ("language", "lang_not_kept"),  # ru
    "http://06.live-radsport.ch/fahrerstatistik_801/Anthony_Ravard.html": ("language", "lang_not_kept"),  # de
    "http://06.live-radsport.ch/tippspiel/stats_140_petzi.html": ("language", "lang_not_kept"),  # de
    "http://0900-hovenier.nl/gelderland/oosterbeek/": ("language", "lang_not_kept"),  # nl
    "http://035.psb556.com/24/i/u_1090813/article.html": ("gopher_repetition", "gopher_top_4_gram"),  # 0.174 > 0.171
    "http://0760.jxtdw.com/area/sanxiang/": ("gopher_repetition", "gopher_dup_line_frac"),  # 0.64 > 0.287
    "http://077678u.info/erxiaoshujinguang/list_6_2.html": ("gopher_repetition", "gopher_top_2_gram"),  # 0.49 > 0.2
    "http://003338.cn/l41/481397.html": ("gopher_quality", "gopher_below_alpha_threshold"),  # 0.31 < 0.735: 【】
    "http://041696.com/15477/list_6_4.html": ("gopher_quality", "gopher_too_many_bullets"),  # 0.955 > 0.9
    "http://0755krk.com/76104/list_4_1.html": ("gopher_quality", "gopher_too_many_bullets"),  # 0.955 > 0.9
    "http://044545.com/topic/20200207/015849.html": ("gopher_quality", "gopher_below_alpha_threshold"),  # 0.655
    "http://05925.net/index.php/vod/type/id/53.html": ("gopher_quality", "gopher_too_few_stop_words"),  # 1 < 2
    "http://0615235.com/02mjqjo%7Bibotij2.btq?odmbtt=106&tdmbtt=121": ("gopher_quality",
                                                                         "gopher_below_alpha_threshold"),  # 0.63
    "http://037426.cn/": ("c4", "c4_too_few_sentences"),  # 2 < 5
    "http://0513mt.com/index.php/art/detail/id/8884.html": ("bad_words", "bad_words"),  # 9 distinct > 2
}


@pytest.fixture(scope="module")
def results(pages):
    chain = FilterChain.from_config(default_config())
    return {name: chain.apply(table) for name, table in pages.items() if name != "classical_zh"}


def test_every_chinese_page_is_kept(results):
    kept, rejected, _ = results["zh_pages"]
    assert rejected.num_rows == 0, rejected.select(["id", "reason", "value", "threshold"]).to_pylist()
    assert kept.num_rows == 16 and set(kept["lang"].to_pylist()) == {"zh"}


def test_english_gold_pages_are_kept(results):
    kept, rejected, _ = results["en_pages"]
    assert kept.num_rows >= 20, rejected.select(["id", "reason", "value", "threshold"]).to_pylist()
    assert kept.num_rows == 21  # all of them today; the bar is 20


def test_spam_is_dropped_and_every_drop_is_named(results):
    with open(FIXTURES / "cc_2020-34_labels.tsv", newline="", encoding="utf-8") as handle:
        labels = {row["url"]: row["label"] for row in csv.DictReader(handle, delimiter="\t")}
    kept, rejected, stats = results["cc_2020-34_pages"]
    dropped = {r["url"]: (r["filter"], r["reason"]) for r in rejected.to_pylist()}
    spam = [url for url, label in labels.items() if label == "spam"]
    assert len(spam) == 9
    share = sum(url in dropped for url in spam) / len(spam)
    assert share >= 0.9, [url for url in spam if url not in dropped]
    assert dropped == EXPECTED_DROPS
    assert kept.num_rows == 0  # the "ok" pages here are junk or not zh/en, and go too
    audit = [r for r in rejected.to_pylist() if r["reason"] != "lang_not_kept"]  # a score vs a keep-list: no threshold
    assert all(r["value"] is not None and r["threshold"] is not None for r in audit)
    assert all(r["threshold"] is None for r in rejected.to_pylist() if r["reason"] == "lang_not_kept")
    stages = {s.name: s for s in stats.stages}
    assert stages["gopher_quality"].dropped["gopher_too_many_bullets"] == 2
    assert stages["language"].rows_in == 15 and stages["language"].rows_out == 11
