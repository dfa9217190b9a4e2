"""Session fixtures: a sentencepiece tokenizer and tokens datasets from real Shakespeare, and one shared Ray."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from training.text_tokens import split_documents, train_sentencepiece, write_text_tokens

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="session")
def documents() -> list[str]:
    return split_documents((DATA / "tinyshakespeare_head.txt").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def sp_model(documents) -> bytes:
    return train_sentencepiece(documents, vocab_size=512)


@pytest.fixture(scope="session")
def tokens_ds(tmp_path_factory, documents, sp_model) -> str:
    """Training tokens: 90% of the documents in 3 shards."""
    url = str(tmp_path_factory.mktemp("data") / "train")
    write_text_tokens(url, documents[: int(len(documents) * 0.9)], sp_model, num_shards=3)
    return url


@pytest.fixture(scope="session")
def val_ds(tmp_path_factory, documents, sp_model) -> str:
    url = str(tmp_path_factory.mktemp("data") / "val")
    write_text_tokens(url, documents[int(len(documents) * 0.9) :], sp_model, num_shards=1)
    return url


@pytest.fixture(scope="session")
def other_tokenizer_ds(tmp_path_factory, documents) -> str:
    """The same text through a different tokenizer: must never be mixed with tokens_ds."""
    url = str(tmp_path_factory.mktemp("data") / "other")
    write_text_tokens(url, documents[:200], train_sentencepiece(documents[:400], vocab_size=640), num_shards=1)
    return url


@pytest.fixture(scope="session")
def ray_address(ray_local):
    """The session's shared local Ray (tests/conftest.py); subprocess drivers join it with --address."""
    # Ray Train's controller polls reports at this interval; short runs should not wait 2 s per checkpoint.
    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.2")
    return ray_local.get_runtime_context().gcs_address


def tiny_overrides(**extra) -> list[str]:
    """A config small enough for CPU tests: ~0.5M parameters, 64-token windows, one thread per worker."""
    base = {
        "model": "tiny",
        "seq_len": 64,
        "batch_size": 4,
        "lr": 3e-3,
        "warmup_steps": 4,
        "log_every": 1,
        "eval_every": 10,
        "eval_batches": 2,
        "cpus_per_worker": 1,
        "max_failures": 0,
        "val_fraction": 0.05,
    }
    base.update(extra)
    return [f"{k}={v}" for k, v in base.items()]
