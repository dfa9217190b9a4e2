"""What users see: one-line errors from inside Ray tasks, exit codes, progress, no Ray noise, readable stats and
help, and README synopses that match the commands (issue 9, items 7, 13, 14, 15)."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import DATA, DEMO, ROOT
from tests.safety.conftest import dataprep, one_line, training

RAY_NOISE = ("Token authentication is enabled", "Started a local Ray instance", "tqdm", "INFO worker.py")


def test_sentencepiece_advice_names_our_flags(small_docs, tmp_path):
    """Songci needs ~2,300 character pieces: a 400-piece vocabulary cannot hold them."""
    assert dataprep("ingest", DEMO / "web" / "songci_zh.jsonl", "-o", tmp_path / "zh").exit_code == 0
    result = dataprep("tokenizer", tmp_path / "zh", "-o", tmp_path / "tok", "--vocab-size", "400")
    assert result.exit_code == 1
    line = one_line(result)
    assert "--character-coverage" in line and "--vocab-size" in line
    assert "character_coverage" not in line and "trainer_interface.cc" not in line


def test_exit_codes_are_the_same_for_both_commands(tmp_path):
    assert dataprep("ingest", "--no-such-flag").exit_code == 2
    assert training("pretrain", "--no-such-flag").exit_code == 2
    assert dataprep("stats", tmp_path / "missing").exit_code == 1
    assert training("eval", "--checkpoint", tmp_path / "missing", "--data", tmp_path / "x").exit_code == 1


def test_stats_renders_sections_as_tables_and_plot_says_when_there_is_nothing(small_docs, tmp_path):
    out, clusters = tmp_path / "dedup", tmp_path / "clusters"
    assert dataprep("dedup", small_docs, "-o", out, "--keep-clusters", clusters).exit_code == 0
    for ds in (out, clusters):
        result = dataprep("stats", ds)
        assert result.exit_code == 0, result.output
        assert "{'" not in result.output and "': " not in result.output, result.output
    assert "cluster_sizes" not in dataprep("stats", out).output  # shown as a table titled in words
    assert "duplicate clusters" in dataprep("stats", out).output
    result = dataprep("stats", clusters, "--plot", tmp_path / "c.png")
    assert result.exit_code == 0, result.output
    assert "nothing to plot" in result.output and not (tmp_path / "c.png").exists()


def _commands(app) -> dict:
    import typer.main

    group = typer.main.get_command(app)
    return dict(group.commands)


@pytest.mark.parametrize("module", ["dataprep.cli", "training.cli"])
def test_help_shows_every_flag_and_choice_whole(module):
    import importlib

    from typer.testing import CliRunner

    app = importlib.import_module(module).app
    for name in _commands(app):
        text = CliRunner().invoke(app, [name, "--help"], env={"COLUMNS": "100"}).output
        assert "<bool>" not in text and "<list" not in text, (name, text)
    text = CliRunner().invoke(app, ["ingest" if module == "dataprep.cli" else "pretrain", "--help"]).output
    if module == "dataprep.cli":
        assert "[jsonl|parquet|text|warc|wet|html|dialogue|preference]" in text, text


def test_readme_synopses_match_the_commands():
    """Every flag a README synopsis line shows for a command exists on that command."""
    from dataprep.cli import app as data_app
    from training.cli import app as train_app

    commands = {"dataprep": _commands(data_app), "training": _commands(train_app)}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
    checked = 0
    for line in (ln.strip() for block in blocks for ln in block.splitlines()):
        m = re.match(r"^(dataprep|training) ([a-z]+)\b(.*)$", line)
        if not m:
            continue
        tool, name, rest = m.groups()
        assert name in commands[tool], f"README shows `{tool} {name}`, which does not exist"
        known = {opt for p in commands[tool][name].params for opt in (*p.opts, *p.secondary_opts)}
        for flag in re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", rest.split("#")[0]):
            assert flag in known, f"README: `{tool} {name}` has no flag {flag}"
        checked += 1
    assert checked >= 20


def _big_corpus(path: Path, mb: int, kb: int = 0) -> Path:
    lines = (DATA / "tokenizer" / "c4_en_head80.jsonl").read_bytes().splitlines()
    with open(path, "wb") as handle:
        written, i = 0, 0
        while written < (mb << 20) + (kb << 10):
            record = json.loads(lines[i % len(lines)])
            record["id"] = f"doc-{i}"
            data = json.dumps(record).encode() + b"\n"
            handle.write(data)
            written += len(data)
            i += 1
    return path


def _env() -> dict:
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.mark.slow  # a fresh interpreter starts its own Ray (the start-up's noise is what is checked): 15-20 s on 2 cores
def test_without_a_terminal_progress_is_a_few_plain_lines_and_ray_is_quiet(tmp_path):
    # 12 small files are 12 work units (a big file is cut into 4 MiB ones): 12 progress updates from a job that
    # takes little more than Ray's start, so a line per update would break the bound below
    srcs = [str(_big_corpus(tmp_path / f"part-{i:02d}.jsonl", 0, kb=64)) for i in range(12)]
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "dataprep.cli", "ingest", *srcs, "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300, env=_env())
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    output = proc.stdout + proc.stderr
    for noise in RAY_NOISE:
        assert noise not in output, output
    progress = [ln for ln in output.splitlines() if ln.startswith("ingest:")]
    assert 1 <= len(progress) <= 2 + elapsed / 10, output
    assert "\r" not in output and "\x1b[" not in output


@pytest.mark.slow  # one cold Ray start under a pseudo-terminal, then an interrupted job: ~20 s on 2 cores
def test_on_a_terminal_progress_is_live_and_ctrl_c_exits_130(tmp_path):
    src = _big_corpus(tmp_path / "big.jsonl", 24)  # 6 units of 4 MiB on one worker: still running at the Ctrl+C
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "dataprep.cli", "ingest", str(src), "-o", str(tmp_path / "out"),
                             "--workers", "1"], stdin=slave, stdout=slave, stderr=slave, env=_env(),
                            start_new_session=True)
    os.close(slave)
    seen, deadline = b"", time.monotonic() + 120
    try:
        while time.monotonic() < deadline and b"rows" not in seen:
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                seen += os.read(master, 65536)
        assert b"rows" in seen and b"shards" in seen, seen.decode(errors="replace")
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl+C sends: the whole foreground process group
        code = proc.wait(timeout=60)
        while True:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    text = seen.decode(errors="replace")
    assert code == 130, text
    assert "interrupted" in text
    assert "Traceback" not in text
