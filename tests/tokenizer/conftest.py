"""One small corpus ingested once, one tokenizer trained once, shared by the module's tests (tiny vocabulary)."""

from __future__ import annotations

import pytest

from tests.conftest import DATA, ingest, tokenize, train_tokenizer

VOCAB = 4000  # the Chinese sample alone needs ~2,300 character pieces at 0.9995 coverage


@pytest.fixture(scope="session")
def tok_corpus(ray_local, tmp_path_factory):
    root = tmp_path_factory.mktemp("tok")
    d = DATA / "tokenizer"
    paths = {
        "en": str(root / "docs_en"),
        "zh": str(root / "docs_zh"),
        "dialogues": str(root / "dialogues"),
        "preferences": str(root / "preferences"),
    }
    ingest([str(d / "c4_en_head80.jsonl")], paths["en"])
    ingest([str(d / "guwenguanzhi_zh_head40.jsonl")], paths["zh"])
    ingest([str(d / "kdconv_zh_messages30.jsonl"), str(d / "alpaca_en_head40.json")], paths["dialogues"],
                      fmt="dialogue")
    ingest([str(d / "hh-rlhf_harmless-base_test_head150.jsonl.gz")], paths["preferences"], fmt="preference")
    prefix = str(root / "tok" / "m")
    info = train_tokenizer([paths["en"], paths["zh"], paths["dialogues"]], prefix, VOCAB)
    tokens = {name: str(root / f"tokens_{name}") for name in paths}
    for name, url in paths.items():
        tokenize(url, prefix + ".model", tokens[name])
    return {"root": root, "inputs": paths, "model": prefix + ".model", "info": info, "tokens": tokens}
