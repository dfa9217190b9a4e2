"""Each rule alone (every other rule of its filter set to None): crafted documents on both sides of each threshold
(a value equal to the threshold passes), measured values against a brute-force reference, and real pages."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from dataprep.filters.bad_words import BadWords, BadWordsParams
from dataprep.filters.c4 import C4Params, C4Quality
from dataprep.filters.chinese import ChineseParams, ChineseQuality
from dataprep.filters.fineweb import FineWebParams, FineWebQuality
from dataprep.filters.gopher_quality import GopherQuality, GopherQualityParams
from dataprep.filters.gopher_repetition import GopherRepetition, GopherRepetitionParams
from dataprep.filters.language import LanguageFilter, LanguageOptions, LanguageParams
from dataprep.filters.text_checks import TextCheckParams, TextChecks
from dataprep.filters.url import UrlFilter, UrlOptions
from tests.filters.conftest import run, texts_table


def only(params_cls, lang="en", **rule):
    """A Params with every rule off except `rule`."""
    off = {name: None for name, f in params_cls.model_fields.items() if _optional(f)}
    if "top_ngram_char_frac" in params_cls.model_fields:
        off.update(top_ngram_char_frac={}, dup_ngram_char_frac={})
    return {lang: params_cls(**{**off, **rule})}


def _optional(field) -> bool:
    return type(None) in getattr(field.annotation, "__args__", ())


def verdicts(stage, texts, lang="en", urls=None):
    reasons, values, thresholds = run(stage, texts_table(texts, lang, urls))
    return reasons, values, thresholds


WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa".split()


def words(n: int, length: int | None = None) -> str:
    if length is not None:
        return " ".join(f"{chr(97 + i % 26)}{'x' * (length - 1)}" for i in range(n))
    return " ".join(WORDS[i % len(WORDS)] for i in range(n))


# -- Gopher quality ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rule,value,kept,dropped,reason", [
    ("min_doc_words", 50, words(50), words(49), "gopher_short_doc"),
    ("max_doc_words", 60, words(60), words(61), "gopher_long_doc"),
    ("min_avg_word_length", 3, words(20, 3), words(20, 2), "gopher_below_avg_word_length"),
    ("max_avg_word_length", 10, words(20, 10), words(20, 11), "gopher_above_avg_word_length"),
    ("max_symbol_word_ratio", 0.1, words(90) + " #" * 10, words(89) + " #" * 11, "gopher_too_many_hashes"),
    ("max_bullet_lines_ratio", 0.9, "\n".join(["- item"] * 9 + ["text"]), "\n".join(["• item"] * 10),
     "gopher_too_many_bullets"),
    ("max_ellipsis_lines_ratio", 0.3, "\n".join(["wait..."] * 3 + ["done"] * 7),
     "\n".join(["wait…"] * 4 + ["done"] * 6), "gopher_too_many_end_ellipsis"),
    ("min_alpha_words_ratio", 0.8, words(8) + " 12 34", words(7) + " 12 34 56", "gopher_below_alpha_threshold"),
    ("min_stop_words", 2, "The cat, and the dog.", "The cat sat, no dog.", "gopher_too_few_stop_words"),
])
def test_gopher_quality_edges(rule, value, kept, dropped, reason):
    stage = GopherQuality(thresholds=only(GopherQualityParams, **{rule: value}))
    reasons, values, thresholds = verdicts(stage, [kept, dropped])
    assert reasons == [None, reason]
    assert thresholds[1] == value


def test_gopher_quality_on_chinese_uses_segmented_words_and_chinese_stop_words():
    text = "我们在北京的大学里学习了三年，他也是这里的学生。"  # rjieba: 我们/在/北京/的/大学/里/学习/了/三年/，/...
    params = only(GopherQualityParams, lang="zh", min_stop_words=2, stop_words=["的", "在", "了", "是"],
                  min_avg_word_length=1, max_avg_word_length=5)
    reasons, values, _ = verdicts(GopherQuality(thresholds=params), [text, "我们北京大学学习三年学生"], lang="zh")
    assert reasons == [None, "gopher_too_few_stop_words"] and values[1] == 0
    # English's thresholds would call the same Chinese text too short on average (about 1.6 characters a word).
    english = only(GopherQualityParams, lang="zh", min_avg_word_length=3)
    assert verdicts(GopherQuality(thresholds=english), [text], lang="zh")[0] == ["gopher_below_avg_word_length"]


def test_a_language_without_a_section_uses_default_and_null_turns_the_filter_off():
    thresholds = {"default": GopherQualityParams(), "fr": None}
    reasons, _, _ = verdicts(GopherQuality(thresholds=thresholds), ["court", "court"], lang=["de", "fr"])
    assert reasons == ["gopher_short_doc", None]


# -- Gopher repetition -------------------------------------------------------------------------------------------
def test_duplicate_line_and_paragraph_edges():
    lines = [f"line number {i} says something" for i in range(7)]
    kept = "\n".join(lines + lines[:3])  # 3 of 10 lines repeat an earlier one
    dropped = "\n".join(lines + lines[:4] + [lines[0]])  # 5 of 12
    stage = GopherRepetition(thresholds=only(GopherRepetitionParams, dup_line_frac=0.3))
    reasons, values, _ = verdicts(stage, [kept, dropped])
    assert reasons == [None, "gopher_dup_line_frac"] and values[1] == pytest.approx(5 / 12)
    paragraphs = "\n\n".join(lines[:5] + lines[:2])
    stage = GopherRepetition(thresholds=only(GopherRepetitionParams, dup_para_frac=2 / 7))
    assert verdicts(stage, [paragraphs, paragraphs + "\n\n" + lines[2]])[0] == [None, "gopher_dup_para_frac"]


def _reference_ngram_shares(text: str, n: int) -> tuple[float, float]:
    """Brute force: (most frequent n-gram's characters x count, characters inside repeated n-grams) / length."""
    w = text.split()
    grams = [tuple(w[i:i + n]) for i in range(len(w) - n + 1)]
    counts = Counter(grams)
    most = max(counts.values())
    top = max(sum(map(len, g)) for g, c in counts.items() if c == most) * most
    seen, covered = set(), [False] * len(w)
    for i, g in enumerate(grams):
        if g in seen:
            covered[i:i + n] = [True] * n
        seen.add(g)
    return top / len(text), sum(len(x) for x, c in zip(w, covered) if c) / len(text)


@pytest.mark.parametrize("n", [2, 3, 5, 7])
def test_ngram_shares_match_a_brute_force_reference_and_the_threshold_is_inclusive(n, pages):
    text = pages["en_pages"]["text"][3].as_py()  # a real article
    repeated = text + " " + " ".join(text.split()[:40])  # plus a repeated run of 40 words
    top, dup = _reference_ngram_shares(repeated, n)
    field = "top_ngram_char_frac" if n <= 4 else "dup_ngram_char_frac"
    expected = top if n <= 4 else dup
    for limit, verdict in ((expected, None), (expected * 0.999, f"gopher_{'top' if n <= 4 else 'dup'}_{n}_gram")):
        params = GopherRepetitionParams(dup_line_frac=None, dup_para_frac=None, dup_line_char_frac=None,
                                        dup_para_char_frac=None, top_ngram_char_frac={}, dup_ngram_char_frac={})
        setattr(params, field, {n: limit})
        reasons, values, _ = verdicts(GopherRepetition(thresholds={"en": params}), [repeated])
        assert reasons == [verdict]
        if verdict:
            assert values[0] == pytest.approx(expected)


def test_keyword_stuffing_is_caught_by_word_ngrams_on_real_spam(pages):
    table = pages["cc_2020-34_pages"]
    urls = table["url"].to_pylist()
    row = urls.index("http://077678u.info/erxiaoshujinguang/list_6_2.html")
    reasons, values, _ = run(GopherRepetition(thresholds={"zh": GopherRepetitionParams()}),
                             texts_table([table["text"][row].as_py()], "zh"))
    assert reasons == ["gopher_top_2_gram"]  # "Copyright 2017-2025 http://www.077678u.info  All Rights Reserved."


# -- FineWeb -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rule,value,kept,dropped,reason", [
    ("min_line_punct_ratio", 0.12, "\n".join(["A line."] * 3 + ["no end"] * 22),
     "\n".join(["A line."] * 2 + ["no end"] * 23), "fineweb_line_punct_ratio"),
    ("max_short_line_ratio", 0.67, "\n".join(["short"] * 2 + ["x" * 40]), "\n".join(["short"] * 3),
     "fineweb_short_line_ratio"),
    ("max_newline_word_ratio", 0.3, "a b c\nd e f\ng h i\nj", "a b c\nd e f\ng h\ni\nj", "fineweb_list_ratio"),
])
def test_fineweb_edges(rule, value, kept, dropped, reason):
    reasons, _, _ = verdicts(FineWebQuality(thresholds=only(FineWebParams, **{rule: value})), [kept, dropped])
    assert reasons == [None, reason]


def test_chinese_line_ends_and_paragraph_mode():
    lines = ["他说：“我们明天出发。”", "这是一段没有句号的段落，但句中有句号。后面还有话", "菜单", "首页"]
    punct = only(FineWebParams, lang="zh", min_line_punct_ratio=0.25)
    # 。” closes a Chinese sentence: 1 of 4 lines ends in punctuation.
    assert verdicts(FineWebQuality(thresholds=punct), ["\n".join(lines)], lang="zh")[0] == [None]
    strict = only(FineWebParams, lang="zh", min_line_punct_ratio=0.5)
    anywhere = only(FineWebParams, lang="zh", min_line_punct_ratio=0.5, line_punct_anywhere=True)
    assert verdicts(FineWebQuality(thresholds=strict), ["\n".join(lines)], lang="zh")[0] == [
        "fineweb_line_punct_ratio"]
    assert verdicts(FineWebQuality(thresholds=anywhere), ["\n".join(lines)], lang="zh")[0] == [None]


def test_duplicated_line_characters_and_table_bars():
    body = "\n".join(["| Credit: a photographer |"] * 2 + ["A real sentence about the climate goes here."] * 1)
    stage = FineWebQuality(thresholds=only(FineWebParams, max_dup_line_char_ratio=0.2))
    reasons, values, _ = verdicts(stage, [body])
    assert reasons == ["fineweb_char_dup_ratio"]
    assert values[0] == pytest.approx(len("Credit: a photographer") / (len(body) - 2))


# -- C4 ----------------------------------------------------------------------------------------------------------
def test_c4_sentences_javascript_lorem_and_curly_brackets():
    sentence = "This line holds one sentence."
    stage = C4Quality(thresholds=only(C4Params, min_sentences=5, min_words_per_line=3, require_terminal_punct=True,
                                      skip_javascript_lines=True))
    docs = ["\n".join([sentence] * 5), "\n".join([sentence] * 4 + ["Please enable JavaScript to view this page."]),
            "\n".join([sentence] * 4 + ["Two. Sentences here."]), "\n".join([sentence] * 4 + ["Too short."])]
    reasons, values, _ = verdicts(stage, docs)
    assert reasons == [None, "c4_too_few_sentences", None, "c4_too_few_sentences"] and values[1] == 4
    lorem = C4Quality(thresholds=only(C4Params, lorem_ipsum=True, min_words_per_line=3))
    assert verdicts(lorem, ["Lorem ipsum dolor sit amet, consectetur.", sentence])[0] == ["c4_lorem_ipsum", None]
    code = "\n".join([sentence] * 3 + ['config = {"key": "value"} is set here.'])
    curly = C4Quality(thresholds=only(C4Params, max_curly_bracket_line_frac=0.25, min_words_per_line=3))
    strict = C4Quality(thresholds=only(C4Params, max_curly_bracket_line_frac=0.0, min_words_per_line=3))
    assert verdicts(curly, [code])[0] == [None]  # 1 of 4 counted lines: at the limit
    assert verdicts(strict, [code])[0] == ["c4_curly_bracket"]  # C4's own rule: any bracket


# -- Chinese -----------------------------------------------------------------------------------------------------
def test_han_share_edges():
    stage = ChineseQuality(thresholds=only(ChineseParams, lang="zh", min_han_share=0.3))
    reasons, values, _ = verdicts(stage, ["中文字 abcdefg", "中文 abcdefgh"], lang="zh")
    assert reasons == [None, "zh_low_han_share"] and values[1] == pytest.approx(0.2)


def test_character_13gram_repetition_edges():
    unit = "一二三四五六七八九十甲乙丙"  # 13 characters
    stage = ChineseQuality(thresholds=only(ChineseParams, lang="zh", max_char_ngram_repetition=0.5, char_ngram=13))
    reasons, values, _ = verdicts(stage, [unit * 2, unit * 3, unit + unit[:12] + "丁"], lang="zh")
    assert reasons == [None, "zh_char_13gram_repetition", None]
    assert values[1] == pytest.approx(2 / 3)


def test_chinese_rules_on_real_pages(pages):
    stage = ChineseQuality(thresholds={"zh": ChineseParams()})  # Han share >= 0.3, 13-gram repetition <= 0.5
    news = pages["zh_pages"]
    assert run(stage, texts_table(news["text"].to_pylist(), "zh"))[0] == [None] * news.num_rows
    table = pages["cc_2020-34_pages"]
    row = table["url"].to_pylist().index("http://0760.jxtdw.com/area/sanxiang/")  # job ads: the same cells again
    reasons, values, _ = run(stage, texts_table([table["text"][row].as_py()], "zh"))
    assert reasons == ["zh_char_13gram_repetition"] and values[0] == pytest.approx(0.607, abs=0.001)


# -- language, URL, text checks, bad words -------------------------------------------------------------------------
def test_language_keep_list_and_score(pages):
    stage = LanguageFilter(LanguageOptions(keep=["zh", "en"]),
                           {"default": LanguageParams(min_score=0.65), "zh": LanguageParams(min_score=0.95)})
    table = pages["cc_2020-34_pages"]
    result = stage.apply(__import__("dataprep.filters.batch", fromlist=["Batch"]).Batch(table))
    by_url = dict(zip(table["url"].to_pylist(), result.reason))
    assert by_url["http://01spb.ru/company/"] == "lang_not_kept"
    assert by_url["http://0900-hovenier.nl/gelderland/oosterbeek/"] == "lang_not_kept"
    assert by_url["http://0513mt.com/index.php/art/detail/id/8884.html"] is None
    assert set(result.columns) == {"lang", "meta"}
    assert result.columns["lang"].to_pylist()[table["url"].to_pylist().index("http://01spb.ru/company/")] == "ru"
    low = LanguageFilter(LanguageOptions(keep=None), {"default": LanguageParams(min_score=0.99)})
    reasons, values, thresholds = run(low, texts_table(["Hello there, the weather is fine; see you tomorrow at noon."]))
    assert reasons == ["lang_low_score"] and values[0] < 0.99 and thresholds[0] == 0.99


def test_url_words_and_a_users_blocklist(tmp_path):
    blocklist = tmp_path / "blocked.txt"
    blocklist.write_text("# my list\nblocked.example\nhttp://fine.example/one-bad-page\n")
    stage = UrlFilter(UrlOptions(blocklist_file=str(blocklist)))
    urls = ["http://news.example.org/world/2020/story.html", "http://www.example.com/free-porn-videos",
            "http://shop.example.com/sexy-babes-gallery", "https://sub.blocked.example/page",
            "http://fine.example/one-bad-page", "http://example.net/2girls1cup.html", None,
            "http://notblocked.example/"]
    reasons, _, _ = verdicts(stage, ["text"] * len(urls), urls=urls)
    assert reasons == [None, "url_banned_word", "url_soft_banned_words", "url_blocked_domain", "url_blocked_url",
                       "url_banned_subword", None, None]


def test_text_checks_edges():
    stage = TextChecks(thresholds={"default": TextCheckParams(max_chars=100)})
    texts = ["0" * 100, "0" * 101, " \n\t ", "ok\x00ok", "a\x01" + "b" * 98, "a\x01\x02" + "b" * 97,
             "ab\ufffdcdefghi", "ab\ufffd\ufffdcdefgh"]
    reasons, values, _ = verdicts(stage, texts)
    # NUL always; control characters over 1%; U+FFFD over 10% (1 in 10 is at the limit, 2 in 10 over it).
    assert reasons == [None, "too_large", "empty_text", "binary_content", None, "binary_content", None,
                       "binary_content"]
    assert values[5] == pytest.approx(0.02) and values[7] == pytest.approx(0.2)


def test_bad_words_count_distinct_entries():
    stage = BadWords(thresholds={"en": BadWordsParams(word_list="ldnoobw_en", max_distinct=2),
                                 "zh": BadWordsParams(word_list="ldnoobw_zh", max_distinct=2)})
    texts = ["What a sexy bitch of a song, sexy again.", "A sexy bitch, fuck that.", "An assessment of class.",
             "成人教育与成人高考。", "淫秽、口交、做爱的描写。"]
    reasons, values, _ = verdicts(stage, texts, lang=["en", "en", "en", "zh", "zh"])
    assert reasons == [None, "bad_words", None, None, "bad_words"]
    assert values[1] == 3 and values[4] == 3  # distinct entries ("sexy" twice counts once)
    assert np.isnan(values[0])  # kept rows carry no value
