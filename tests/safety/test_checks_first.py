"""Everything that can be known from arguments, configs and manifests is checked before Ray starts or any work
is done; option ranges are usage errors that name the flag or the YAML key (issue 9, items 4, 8 and 10)."""

from __future__ import annotations

import socket

import pytest

from tests.conftest import DEMO
from tests.safety.conftest import dataprep, one_line, training

SONGCI = DEMO / "web" / "songci_zh.jsonl"


@pytest.mark.parametrize(
    "args, flag",
    [
        (["ingest", SONGCI, "-o", "OUT", "--max-chars", "0"], "--max-chars"),
        (["ingest", SONGCI, "-o", "OUT", "--max-chars", "-5"], "--max-chars"),
        (["dedup", DEMO, "-o", "OUT", "--threshold", "1.5"], "--threshold"),
        (["dedup", DEMO, "-o", "OUT", "--num-perm", "1"], "--num-perm"),
        (["tokenizer", DEMO, "-o", "OUT", "--vocab-size", "10"], "--vocab-size"),
        (["tokenizer", DEMO, "-o", "OUT", "--vocab-size", "1000", "--character-coverage", "2"], "--character-coverage"),
    ],
)
def test_out_of_range_options_are_usage_errors_naming_the_flag(tmp_path, no_ray, args, flag):
    args = [tmp_path / "out" if a == "OUT" else a for a in args]
    result = dataprep(*args)
    assert result.exit_code == 2, result.output
    assert flag in result.output
    assert not (tmp_path / "out").exists()


def _pipeline(tmp_path, steps: str) -> str:
    path = tmp_path / "p.yaml"
    path.write_text(f"output: {tmp_path / 'run'}\nsteps:\n{steps}")
    return str(path)


def test_a_yaml_value_out_of_range_names_the_yaml_key_not_a_flag(tmp_path, no_ray):
    cfg = _pipeline(tmp_path, f"  - ingest: {{inputs: [{SONGCI}]}}\n  - dedup: {{threshold: 1.5}}\n")
    result = dataprep("run", cfg)
    assert result.exit_code == 2
    line = one_line(result)
    assert "steps[1].dedup.threshold" in line and "--threshold" not in line
    assert not (tmp_path / "run").exists()


def test_every_step_is_checked_before_the_first_one_runs(tmp_path, no_ray):
    # A tokenize step with no tokenizer, after two good steps: refused before ingest runs.
    cfg = _pipeline(tmp_path, f"  - ingest: {{inputs: [{SONGCI}]}}\n  - dedup: {{}}\n  - tokenize: {{}}\n")
    result = dataprep("run", cfg)
    assert result.exit_code == 2
    assert "steps[2].tokenize" in one_line(result) and "tokenizer" in one_line(result)
    # A first step whose input does not exist.
    cfg = _pipeline(tmp_path, f"  - ingest: {{inputs: [{tmp_path / 'missing.jsonl'}]}}\n  - dedup: {{}}\n")
    result = dataprep("run", cfg)
    assert result.exit_code == 1 and "missing.jsonl" in one_line(result) and "does not exist" in one_line(result)
    assert not (tmp_path / "run").exists()


def _closed_port() -> int:
    with socket.socket() as sock:  # bound then closed: nothing listens there
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_cluster_is_named_before_ray_starts(short_tokens, tmp_path, no_ray):
    address = f"127.0.0.1:{_closed_port()}"
    result = dataprep("ingest", SONGCI, "-o", tmp_path / "out", "--address", address)
    assert result.exit_code == 1
    line = one_line(result)
    assert address in line and "SENTINEL" not in line
    result = training("pretrain", "--data", short_tokens / "tokens", "-o", tmp_path / "run", "--address", address,
                      "--set", "seq_len=64")
    assert result.exit_code == 1
    line = one_line(result)
    assert address in line and "SENTINEL" not in line
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def short_tokens(ray_local, tmp_path_factory):
    """A real token dataset of ~8,000 tokens, and one with no tokens at all."""
    from dataprep.dataset import DOCUMENTS, write_dataset

    root = tmp_path_factory.mktemp("short")
    assert dataprep("ingest", SONGCI, "-o", root / "docs").exit_code == 0
    assert dataprep("tokenizer", root / "docs", "-o", root / "tok", "--vocab-size", "2000",
                    "--character-coverage", "0.99").exit_code == 0
    assert dataprep("tokenize", root / "docs", "--tokenizer", root / "tok.model", "-o", root / "tokens").exit_code == 0
    write_dataset(str(root / "empty_docs"), "documents", [DOCUMENTS.empty_table()], schema=DOCUMENTS)
    result = dataprep("tokenize", root / "empty_docs", "--tokenizer", root / "tok.model", "-o", root / "empty")
    assert result.exit_code == 0, result.output
    return root


@pytest.mark.parametrize("which, seq_len, message", [("tokens", 100_000, "fewer"), ("empty", 64, "no tokens")])
def test_training_refuses_data_shorter_than_one_window_before_ray(short_tokens, tmp_path, no_ray, which, seq_len,
                                                                   message):
    run = tmp_path / "run"
    result = training("pretrain", "--data", short_tokens / which, "-o", run, "--set", f"seq_len={seq_len}")
    assert result.exit_code == 1, result.output
    assert message in one_line(result)
    assert not run.exists()
