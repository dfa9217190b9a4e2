"""Helpers for the safety tests: the CLIs run in-process, small real datasets, and a guard that Ray never starts."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import DATA, DEMO

runner = CliRunner()


def dataprep(*args: str):
    from dataprep.cli import app

    return runner.invoke(app, [str(a) for a in args])


def training(*args: str):
    from training.cli import app

    return runner.invoke(app, [str(a) for a in args])


def one_line(result) -> str:
    """The single non-blank line a failing command printed (asserts there is exactly one, and no traceback)."""
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output and "\x1b[" not in result.output, result.output
    return lines[0]


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` with the sha256 of its bytes: what 'byte-identical' compares."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(Path(folder).rglob("*")) if p.is_file()
    }


@pytest.fixture
def no_ray(monkeypatch):
    """Fail loudly if anything tries to start or join Ray: checks must run before it."""
    import ray

    def refuse(*args, **kwargs):
        raise AssertionError("SENTINEL: Ray was started")

    monkeypatch.setattr(ray, "init", refuse)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)


@pytest.fixture(scope="module")
def small_docs(ray_local, tmp_path_factory) -> Path:
    """A committed documents dataset of 2 shards made by the CLI from real text (80 C4 pages + the bad records)."""
    root = tmp_path_factory.mktemp("safety")
    src = root / "src"
    src.mkdir()
    shutil.copy(DATA / "tokenizer" / "c4_en_head80.jsonl", src)
    shutil.copy(DEMO / "web" / "bad_records.jsonl", src)
    out = root / "docs"
    result = dataprep("ingest", src, "-o", out)
    assert result.exit_code == 0, result.output
    assert len(json.loads((out / "manifest.json").read_text())["shards"]) == 2
    return out


@pytest.fixture
def docs_copy(small_docs, tmp_path) -> Path:
    """A private copy of `small_docs` that a test may damage."""
    dst = tmp_path / "docs"
    shutil.copytree(small_docs, dst)
    return dst


def flip_byte(path: Path, at: float = 0.5) -> None:
    data = bytearray(path.read_bytes())
    i = int(len(data) * at)
    data[i] ^= 0x01
    path.write_bytes(bytes(data))
