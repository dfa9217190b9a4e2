"""Main-text extraction: the default extractor's quality bars on the English gold set and the Chinese pages."""

from __future__ import annotations

import pytest

from dataprep.web import boilerplate
from dataprep.web.evaluate import load_gold, load_silver, silver_scores, snippet_shares
from dataprep.web.extract import DEFAULT_EXTRACTOR, EXTRACTORS, extract_text, resolve
from tests.web.warcs import EN, ZH


@pytest.fixture(scope="module")
def gold():
    return load_gold(EN)


def test_default_extractor_matches_trafilatura_on_the_english_gold_set(gold):
    ours = snippet_shares(gold, lambda html: extract_text(html, DEFAULT_EXTRACTOR))
    reference = snippet_shares(gold, lambda html: extract_text(html, "trafilatura"))
    assert len(gold) == 21 and reference["must_include"] > 0.9  # the reference really ran
    assert ours["must_include"] >= reference["must_include"] - 0.02, ours["misses"]
    assert ours["must_exclude"] >= reference["must_exclude"], ours["misses"]


def test_default_extractor_on_chinese_pages_keeps_the_article_and_drops_navigation():
    pages = load_silver(ZH)
    assert len(pages) == 16
    for score in silver_scores(pages, lambda html: extract_text(html, DEFAULT_EXTRACTOR)):
        assert score["coverage"] >= 0.8, score
        assert score["nav"] == [], score


def test_plain_resiliparse_leaves_the_navigation_the_rules_remove():
    """The rules do the work: without them, resiliparse keeps breadcrumbs and footers on these pages."""
    pages = load_silver(ZH)
    leaked = [s for s in silver_scores(pages, lambda html: extract_text(html, "resiliparse")) if s["nav"]]
    assert len(leaked) >= 3


def test_every_table_extractor_runs_and_unknown_names_are_refused():
    html = (EN / "flowfx.de.tmux.html").read_bytes()
    for name in EXTRACTORS:
        assert "tmux" in extract_text(html, name), name
    with pytest.raises(ValueError, match="unknown extractor"):
        resolve("no-such-extractor")
    assert resolve("tests.web.slow_extractor:sleepy").__name__ == "sleepy"


def test_table_artifacts_are_stripped_as_fineweb_does():
    text = "Name | Price\n| | |\n|\nApples | 3\n\n| |\n|  | Pears |  |  | 4 |\nEnd of the table."
    assert boilerplate.strip_table_artifacts(text) == "Name | Price\n\nApples | 3\n\nPears | 4\nEnd of the table."


def test_line_rules_on_real_furniture():
    text = "\n".join([
        "您所在的位置： 首页 > 快讯 > 公司",
        "A real first paragraph of the article, long enough to be prose and ending with a full stop.",
        "Advertisement:",
        "(Credit: Clayton Aldern / Grist)",
        "评论（0）",
        "Copyright © 2020 Example Media. All rights reserved.",
        "上一篇：另一篇文章的标题",
    ])
    assert boilerplate.clean_lines(text) == (
        "A real first paragraph of the article, long enough to be prose and ending with a full stop."
    )
