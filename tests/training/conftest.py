"""Session fixtures: a tokenizer and token datasets made by the real `dataprep tokenizer` / `dataprep tokenize`
code (tests/training/token_data.py) from real data (Shakespeare, Alpaca and KdConv dialogues, hh-rlhf pairs),
tiny checkpoints to start fine-tuning from, and one shared Ray."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .token_data import ingest_chat, split_documents, tokenize, train_tokenizer, write_documents

DATA = Path(__file__).resolve().parents[1] / "data"
VOCAB = 1024  # byte fallback takes 256 ids and the specials 8: the rest are Shakespeare/Alpaca pieces


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Tiny models gain nothing from a second intra-op thread, and on a shared 2-core machine OpenMP barriers
    make small kernels (SDPA on a few tokens) up to 50x slower when the other core is busy."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def documents() -> list[str]:
    return split_documents((DATA / "tinyshakespeare_head.txt").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def corpus(tmp_path_factory, documents) -> dict:
    """Documents and dialogues, and the tokenizer `dataprep tokenizer` trains on both."""
    root = tmp_path_factory.mktemp("corpus")
    cut = int(len(documents) * 0.9)
    paths = {
        "train_docs": write_documents(root / "train_docs", documents[:cut], num_shards=3),
        "val_docs": write_documents(root / "val_docs", documents[cut:]),
        "dialogues": ingest_chat([DATA / "tokenizer" / "alpaca_en_head40.json",
                                  DATA / "tokenizer" / "kdconv_zh_messages30.jsonl"], root / "dialogues", "dialogue"),
        "preferences": ingest_chat([DATA / "tokenizer" / "hh-rlhf_harmless-base_test_head150.jsonl.gz"],
                                   root / "preferences", "preference"),
        "dialogues_en": ingest_chat([DATA / "tokenizer" / "alpaca_en_head40.json"], root / "dialogues_en", "dialogue"),
    }
    # English only: Chinese text goes through byte fallback, which the chat streaming test relies on.
    paths["tokenizer"] = train_tokenizer([paths["train_docs"], paths["dialogues_en"]], root / "tok" / "m", VOCAB)
    paths["root"] = root
    return paths


@pytest.fixture(scope="session")
def sp_model(corpus) -> bytes:
    return Path(corpus["tokenizer"]).read_bytes()


@pytest.fixture(scope="session")
def tokens_ds(corpus) -> str:
    """Training tokens: 90% of the documents in 3 shards."""
    return tokenize(corpus["train_docs"], corpus["tokenizer"], corpus["root"] / "train")


@pytest.fixture(scope="session")
def val_ds(corpus) -> str:
    return tokenize(corpus["val_docs"], corpus["tokenizer"], corpus["root"] / "val")


@pytest.fixture(scope="session")
def sft_ds(corpus) -> str:
    """Dialogue tokens (loss masks on assistant turns): 40 Alpaca and 30 KdConv conversations."""
    return tokenize(corpus["dialogues"], corpus["tokenizer"], corpus["root"] / "sft")


@pytest.fixture(scope="session")
def dpo_ds(corpus) -> str:
    """Preference tokens: 150 hh-rlhf pairs (red-teaming conversations)."""
    return tokenize(corpus["preferences"], corpus["tokenizer"], corpus["root"] / "dpo")


@pytest.fixture(scope="session")
def other_tokenizer_ds(tmp_path_factory, documents) -> str:
    """The same text through a different tokenizer: must never be mixed with tokens_ds."""
    root = tmp_path_factory.mktemp("other")
    docs = write_documents(root / "docs", documents[:200])
    model = train_tokenizer([write_documents(root / "tok_docs", documents[:400])], root / "tok" / "m", 640)
    return tokenize(docs, model, root / "tokens")


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


REFERENCE_STEPS = 40


def reference_overrides(**extra) -> list[str]:
    """The reference run's config. The learning rate is constant after warmup (min_lr_ratio 1), so the schedule
    does not depend on `steps`: a shorter run with these settings trains step for step like the reference, which
    lets test_fsdp_ray compare its first steps with it instead of training a reference of its own."""
    return tiny_overrides(**{"steps": REFERENCE_STEPS, "checkpoint_every": 20, "min_lr_ratio": 1.0, **extra})


@pytest.fixture(scope="session")
def full_run(tmp_path_factory, tokens_ds, ray_address) -> Path:
    """The uninterrupted reference run: 1 worker, in this process, on the session's Ray."""
    from training.config import build_config
    from training.trainer import pretrain

    run = tmp_path_factory.mktemp("full") / "run"
    result = pretrain(build_config(None, None, reference_overrides(data=tokens_ds)), run)
    assert result.metrics["step"] == REFERENCE_STEPS
    return run


def registered_checkpoints(run: str | Path) -> list[str]:
    """The checkpoints Ray Train has committed (its snapshot), in a local or remote run folder."""
    import json

    from training.runfolder import RunFolder

    try:
        data = json.loads(RunFolder(run).read_text("checkpoints", "checkpoint_manager_snapshot.json") or "{}")
    except (OSError, ValueError):
        return []
    return [c["checkpoint_dir_name"] for c in data.get("checkpoint_results", [])]


def save_init_checkpoint(directory: Path, model, data_url: str, sp_bytes: bytes, step: int = 0) -> Path:
    """A checkpoint folder as training writes it (weights, optimizer, RNG, tokenizer, state) for `model`."""
    from dataprep.dataset import open_dataset
    from training.checkpoint import save_checkpoint
    from training.config import TrainConfig
    from training.optim import build_optimizer, build_scheduler
    from training.shards import tokenizer_info

    import torch

    cfg = TrainConfig(seq_len=model.cfg.max_seq_len)
    optimizer = build_optimizer(model, cfg, torch.device("cpu"))
    state = {"step": step, "tokens": 0, "world_size": 1, "objective": "pretrain", "init": None,
             "tokenizer": tokenizer_info(open_dataset(data_url)).to_dict(), "config": cfg.model_dump()}
    return save_checkpoint(directory, model, optimizer, build_scheduler(optimizer, cfg), state, tokenizer=sp_bytes)


def tiny_gpt(seed: int = 0, max_seq_len: int = 256, **dims):
    import torch

    from training.model import GPT, model_config

    torch.manual_seed(seed)
    return GPT(model_config({"base": "tiny", **dims}, VOCAB, max_seq_len))


@pytest.fixture(scope="session")
def init_checkpoint(tmp_path_factory, sft_ds, sp_model) -> Path:
    """A tiny model with a 256-token context and the session's tokenizer: where fine-tuning tests start."""
    return save_init_checkpoint(tmp_path_factory.mktemp("init") / "step-00000000", tiny_gpt(), sft_ds, sp_model)
