"""Normalization, tokens and shingle hashes (no Ray)."""

import numpy as np
import pyarrow as pa
import pytest

from dataprep.dedup.normalize import normalize_text
from dataprep.dedup.shingles import document_hashes, shingle_hashes, tokenize
from tests.dedup.corpus import chinese, english, sohu_pairs


def test_normalization_folds_case_width_digits_punctuation_and_space():
    assert normalize_text("Hello,   WORLD!! 2024-01-02") == "hello world 0000 00 00"
    assert normalize_text("ＡＢＣ１２３　ｔｅｓｔ") == "abc000 test"  # full-width forms fold (NFKC)
    assert normalize_text("  \t\n ") == ""
    assert normalize_text("Café — naïve") == "café naïve"  # accents are kept, the dash is punctuation


def test_cjk_characters_are_tokens_and_spaced_words_are_not_split():
    # The text-dedup bug: an unspaced Chinese sentence must not be one token.
    assert normalize_text("今天天气很好，我们去公园。") == "今 天 天 气 很 好 我 们 去 公 园"
    assert normalize_text("東京タワーへ行く") == "東 京 タ ワ ー へ 行 く"
    assert normalize_text("한국어 문장") == "한 국 어 문 장"
    assert normalize_text("GPT模型in 2023年") == "gpt 模 型 in 0000 年"


def _tokens_reference(texts):
    return [normalize_text(t).split() for t in texts]


@pytest.mark.parametrize("source", ["en", "zh", "sohu"])
def test_vectorized_tokens_match_the_reference_on_real_text(source):
    texts = {"en": lambda: [t for _, t in english()[:40]], "zh": lambda: [t for _, t in chinese()[:30]],
             "sohu": lambda: [r["sentence2"] for r in sohu_pairs()[:80]]}[source]()
    texts = texts + ["", "!!!"]
    tokens = tokenize(pa.array(texts))
    ref = _tokens_reference(texts)
    assert np.diff(tokens.offsets).tolist() == [len(r) for r in ref]
    # Equal tokens hash equally, different tokens differently (within this sample).
    flat = [w for r in ref for w in r]
    by_token = {}
    for w, h in zip(flat, tokens.hashes.tolist()):
        assert by_token.setdefault(w, h) == h
    assert len(set(by_token.values())) == len(by_token)


def test_tokens_do_not_cross_document_boundaries():
    one = tokenize(pa.array(["alpha beta", "gamma"]))
    two = tokenize(pa.array(["alpha", "beta gamma"]))
    assert np.diff(one.offsets).tolist() == [2, 1]
    assert np.diff(two.offsets).tolist() == [1, 2]
    assert one.hashes.tolist() == two.hashes.tolist()


def test_shingles_count_and_short_documents():
    tokens = tokenize(pa.array(["a b c d e f g", "a b", "", "一二三四五六"]))
    shingles, offsets = shingle_hashes(tokens, 5)
    assert np.diff(offsets).tolist() == [3, 1, 0, 2]
    again, _ = shingle_hashes(tokenize(pa.array(["x a b c d e f g"])), 5)
    assert set(shingles[:3].tolist()) < set(again.tolist())  # same n-grams hash the same wherever they are


def test_document_hashes_compare_normalized_text():
    h = document_hashes(tokenize(pa.array(["Hello, World!", "hello world", "hello  world.", "world hello", "", " "])))
    rows = [tuple(r) for r in h.tolist()]
    assert rows[0] == rows[1] == rows[2]
    assert rows[3] != rows[0]
    assert rows[4] == rows[5] != rows[0]


def test_null_and_sliced_arrays():
    arr = pa.array(["zero", None, "two words", "three"]).slice(1, 3)
    tokens = tokenize(arr)
    assert np.diff(tokens.offsets).tolist() == [0, 2, 1]
