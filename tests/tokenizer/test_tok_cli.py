"""`dataprep tokenizer`, `dataprep tokenize` and the pipeline steps, through the command line."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from dataprep.cli import app
from dataprep.dataset import open_dataset
from tests.conftest import DATA

runner = CliRunner()


def test_cli_train_tokenize_and_stats(tok_corpus, tmp_path):
    prefix = str(tmp_path / "tok" / "en")
    result = runner.invoke(app, ["tokenizer", tok_corpus["inputs"]["en"], "-o", prefix, "--vocab-size", "1000",
                                 "--sample-bytes", "150000", "--model-type", "unigram"])
    assert result.exit_code == 0, result.output
    assert "1,000 pieces" in result.output
    out = str(tmp_path / "tokens")
    result = runner.invoke(app, ["tokenize", tok_corpus["inputs"]["en"], "--tokenizer", prefix + ".model", "-o", out])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["stats", out, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["kind"] == "tokens" and summary["tokens"] > 10_000
    assert summary["bytes_per_token"]["en"] > 2 and summary["tokens_per_row"]["p50"] > 10
    table = runner.invoke(app, ["stats", out], env={"COLUMNS": "160"})
    assert "bytes per token" in table.stdout and "tokens per row" in table.stdout


def test_cli_errors_are_one_line(tok_corpus, tmp_path):
    missing = runner.invoke(app, ["tokenize", tok_corpus["inputs"]["en"], "--tokenizer", str(tmp_path / "no.model"),
                                  "-o", str(tmp_path / "x")])
    assert missing.exit_code == 1 and "does not exist" in missing.output
    assert len(missing.output.strip().splitlines()) == 1
    again = runner.invoke(app, ["tokenize", tok_corpus["tokens"]["en"], "--tokenizer", tok_corpus["model"],
                                "-o", str(tmp_path / "y")])
    assert again.exit_code == 1 and "is a tokens dataset" in again.output
    small = runner.invoke(app, ["tokenizer", tok_corpus["inputs"]["zh"], "-o", str(tmp_path / "t"), "--vocab-size", "400"])
    assert small.exit_code == 1 and "tokenizer training failed" in small.output


def test_pipeline_tokenizer_then_tokenize(tok_corpus, tmp_path):
    config = tmp_path / "pipe.yaml"
    config.write_text(
        f"output: {tmp_path / 'run'}\n"
        "steps:\n"
        f"  - ingest: {{inputs: ['{DATA / 'tokenizer' / 'kdconv_zh_messages30.jsonl'}'], format: dialogue}}\n"
        "  - tokenizer: {vocab_size: 3500}\n"
        "  - tokenize: {}\n"
    )
    result = runner.invoke(app, ["run", str(config)])
    assert result.exit_code == 0, result.output
    ds = open_dataset(str(tmp_path / "run" / "02-tokenize"), kind="tokens")
    assert ds.manifest.provenance["token_layout"] == "dialogues"  # tokenize read the ingest output
    assert ds.manifest.provenance["tokenizer"]["model"].endswith("01-tokenizer/tokenizer.model")
    assert ds.manifest.rows == 30
