"""The `dataprep` command line. Each command is a thin shell over `dataprep.operations`."""

from __future__ import annotations

import json
from typing import List, Optional

import typer
from rich.console import Console

from dataprep.cli_errors import console, fail, user_errors
from dataprep.sources.records import MAX_DOC_CHARS
from dataprep.web.extract import DEFAULT_EXTRACTOR, EXTRACTORS

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Turn raw corpora into clean, deduplicated, tokenized Arrow shards on Ray.",
)
out = Console()

ADDRESS = typer.Option(None, "--address", help="Ray cluster to join (default: RAY_ADDRESS, else an embedded local Ray).")
WORKERS = typer.Option(None, "--workers", min=1, help="Most tasks at once (default: every CPU of the cluster).")


def on_ray(address: Optional[str]):
    from dataprep.distributed.runtime import ray_session

    return ray_session(address)


@app.command()
@user_errors
def ingest(
    sources: List[str] = typer.Argument(..., help="Files, folders or globs (any fsspec URL)."),
    output: str = typer.Option(..., "-o", "--output", help="Output dataset folder."),
    fmt: Optional[str] = typer.Option(
        None, "--format",
        help="jsonl|parquet|text|warc|wet|html|dialogue|preference (documents formats are guessed from the suffix).",
    ),
    text_split: str = typer.Option("file", "--text-split", help="Plain text: one document per `file` or per `blank-line` block."),
    text_field: Optional[str] = typer.Option(None, "--text-field", help="JSONL/Parquet field with the text (default: text, content)."),
    max_chars: int = typer.Option(MAX_DOC_CHARS, "--max-chars", help="Longer documents are skipped as too_large."),
    extractor: str = typer.Option(
        DEFAULT_EXTRACTOR, "--extractor",
        help=f"WARC/HTML main-text extractor: {'|'.join(EXTRACTORS)}, or module:function.",
    ),
    address: Optional[str] = ADDRESS,
    workers: Optional[int] = WORKERS,
):
    """Read raw files into a `documents` dataset (bad records are counted and skipped)."""
    from dataprep import operations

    if text_split not in ("file", "blank-line"):
        fail(f"--text-split must be file or blank-line, not {text_split!r}")
    with on_ray(address):
        manifest, skipped = operations.ingest(sources, output, fmt, text_split, text_field, max_chars, workers,
                                              extractor=extractor)
    _report_written(output, manifest, skipped)


@app.command()
@user_errors
def tokenizer(
    inputs: List[str] = typer.Argument(..., help="documents and/or dialogues datasets to sample from."),
    model_prefix: str = typer.Option(..., "-o", "--output", help="Writes MODEL_PREFIX.model, .vocab and .json."),
    vocab_size: int = typer.Option(..., "--vocab-size", min=300, help="Vocabulary size (<= 65536 gives uint16 shards)."),
    model_type: str = typer.Option("bpe", "--model-type", help="bpe or unigram."),
    sample_bytes: int = typer.Option(100_000_000, "--sample-bytes", min=1, help="Train on a uniform row sample of at most this many bytes."),
    character_coverage: float = typer.Option(0.9995, "--character-coverage", help="Share of characters kept as pieces (rest: bytes)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the sample (same seed and data: same model)."),
    address: Optional[str] = ADDRESS,
    workers: Optional[int] = WORKERS,
):
    """Train a sentencepiece tokenizer (byte fallback, split digits, chat special tokens)."""
    from dataprep import operations

    if model_type not in ("bpe", "unigram"):
        fail(f"--model-type must be bpe or unigram, not {model_type!r}")
    with on_ray(address):
        info = operations.train_tokenizer(inputs, model_prefix, vocab_size, model_type, sample_bytes,
                                          character_coverage, seed, workers)
    console.print(
        f"wrote {model_prefix}.model ({info['vocab_size']:,} pieces, sha256 {info['sha256'][:12]}, trained on "
        f"{info['training']['sample_rows']:,} rows / {info['training']['sample_bytes']:,} bytes), .vocab and .json",
        highlight=False,
    )


@app.command()
@user_errors
def tokenize(
    dataset: str = typer.Argument(..., help="documents, dialogues or preferences dataset."),
    tokenizer_model: str = typer.Option(..., "--tokenizer", help="MODEL_PREFIX.model written by `dataprep tokenizer` (any fsspec URL)."),
    output: str = typer.Option(..., "-o", "--output", help="Output tokens dataset folder."),
    address: Optional[str] = ADDRESS,
    workers: Optional[int] = WORKERS,
):
    """Encode a dataset into uncompressed token shards (with loss masks for dialogues and preferences)."""
    from dataprep import operations

    with on_ray(address):
        manifest, skipped = operations.tokenize(dataset, tokenizer_model, output, workers)
    reused = f", {skipped} reused from an earlier run" if skipped else ""
    console.print(f"wrote {manifest.tokens:,} tokens ({manifest.rows:,} rows) in {len(manifest.shards)} shards "
                  f"to {output}{reused}", highlight=False)


@app.command()
@user_errors
def dedup(
    dataset: str = typer.Argument(..., help="Input documents dataset."),
    output: str = typer.Option(..., "-o", "--output", help="Output documents dataset folder (same shard layout)."),
    threshold: float = typer.Option(0.8, "--threshold", help="Estimated Jaccard similarity that makes a near-duplicate."),
    num_perm: int = typer.Option(128, "--num-perm", help="MinHash permutations (bands x rows are derived from them)."),
    ngram: int = typer.Option(5, "--ngram", help="Tokens per shingle: words, or single Han/Kana/Hangul characters."),
    no_exact: bool = typer.Option(False, "--no-exact", help="Skip the exact pass (identical texts then count as near)."),
    verify: bool = typer.Option(False, "--verify", help="Drop candidate pairs whose signature Jaccard is below --threshold."),
    keep_clusters: Optional[str] = typer.Option(
        None, "--keep-clusters",
        help="Also write a `clusters` dataset (id, cluster_id, kept) of every duplicate cluster to this folder.",
    ),
    address: Optional[str] = ADDRESS,
    workers: Optional[int] = WORKERS,
):
    """Remove exact and MinHash near-duplicates, keeping the smallest id of each cluster."""
    from dataprep import operations

    with on_ray(address):
        summary = operations.dedup(dataset, output, threshold, num_perm, ngram, not no_exact, verify, keep_clusters, workers)
    s = summary.stats
    reused = f", {summary.skipped} shards reused from an earlier run" if summary.skipped else ""
    console.print(
        f"wrote {s['documents_out']:,} of {s['documents_in']:,} documents in {len(summary.manifest.shards)} shards to {output}: "
        f"{s['exact_removed']:,} exact and {s['near_removed']:,} near duplicates removed "
        f"(bands {s['bands']} x rows {s['rows']}, {s['clusters']:,} clusters){reused}",
        highlight=False,
    )


@app.command()
@user_errors
def stats(
    dataset: str = typer.Argument(..., help="Dataset folder (any fsspec URL)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    plot: Optional[str] = typer.Option(None, "--plot", help="Write histograms to this PNG file."),
):
    """Summarise a dataset: shards, rows, bytes, tokens, stages and drop reasons, languages, lengths."""
    from dataprep import report
    from dataprep.dataset import open_dataset

    ds = open_dataset(dataset)
    summary = report.summarize(ds)
    if as_json:
        out.print_json(json.dumps(summary, ensure_ascii=False))
    else:
        report.render(summary, out)
    if plot:
        report.plot(ds, plot)
        console.print(f"wrote {plot}")


@app.command()
@user_errors
def export(
    dataset: str = typer.Argument(..., help="Dataset folder."),
    output: str = typer.Option(..., "-o", "--output", help="FILE.jsonl, FILE.jsonl.gz or FILE.parquet."),
):
    """Write a dataset's rows to one JSONL or Parquet file."""
    from dataprep.dataset import open_dataset
    from dataprep.export import export as export_rows

    rows = export_rows(open_dataset(dataset), output)
    console.print(f"wrote {rows:,} rows to {output}")


@app.command()
@user_errors
def run(
    config: str = typer.Argument(..., help="Pipeline YAML (see jobs/configs/)."),
    output: Optional[str] = typer.Option(None, "-o", "--output", help="Override the config's output folder."),
    address: Optional[str] = ADDRESS,
    workers: Optional[int] = WORKERS,
):
    """Run a whole pipeline (ingest, dedup, tokenize, ...) as one job."""
    from dataprep.pipeline import load_config, run_pipeline

    cfg = load_config(config, {"output": output, "workers": workers, "address": address})
    with on_ray(cfg.address):
        written = run_pipeline(cfg, log=lambda line: console.print(line, highlight=False))
    console.print(f"done: {written[-1]}")


def _report_written(output: str, manifest, skipped: int) -> None:
    dropped = sum(sum(s.get("dropped", {}).values()) for s in manifest.stats.get("stages", [])[-1:])
    reused = f", {skipped} reused from an earlier run" if skipped else ""
    console.print(
        f"wrote {manifest.rows:,} rows in {len(manifest.shards)} shards to {output}"
        f" ({dropped:,} skipped as bad{reused})",
        highlight=False,
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
