"""The `dataprep` command line.

The stage commands (ingest, dedup, tokenizer, tokenize, ...) are generated from the stages' parameter models
(`dataprep.steps`): each flag's name, default, range and help are declared once, in the model. A command
checks everything it can before Ray starts, then runs its stage on an embedded local Ray or the cluster named
by `--address`. stats, export and verify read datasets in this process.
"""

from __future__ import annotations

import inspect
import json
from typing import Callable, Optional

import typer
from rich.console import Console

from dataprep.cli_errors import console, user_errors
from dataprep.params import command_parameters, validate
from dataprep.steps import STEPS, Step, StepContext

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Turn raw corpora into clean, deduplicated, tokenized Arrow shards on Ray.",
)
out = Console(highlight=False)

ADDRESS_HELP = "Ray cluster to join, HOST:PORT (default: RAY_ADDRESS, else an embedded local Ray)."
WORKERS_HELP = "Most tasks at once (default: every CPU of the cluster)."


def _run_options() -> list[inspect.Parameter]:
    kw = inspect.Parameter.KEYWORD_ONLY
    return [
        inspect.Parameter("address", kw, annotation=Optional[str],
                          default=typer.Option(None, "--address", help=ADDRESS_HELP, metavar="HOST:PORT")),
        inspect.Parameter("workers", kw, annotation=Optional[int],
                          default=typer.Option(None, "--workers", min=1, help=WORKERS_HELP, metavar="N")),
        inspect.Parameter("verbose", kw, annotation=bool,
                          default=typer.Option(False, "--verbose", help="Show Ray's own logs and workers' output.")),
    ]


def run_step(step: Step, address: Optional[str] = None, workers: Optional[int] = None, verbose: bool = False) -> None:
    """Check the step (before Ray), run it on Ray, print its one-line summary."""
    from dataprep.distributed.runtime import ray_session

    ctx = StepContext(workers=workers, log=lambda line: console.print(line, markup=False, soft_wrap=True))
    step.check(ctx)
    with ray_session(address, verbose=verbose):
        result = step.run(ctx)
    console.print(result.summary, markup=False, soft_wrap=True)


def _step_command(model: type[Step], extra: tuple[inspect.Parameter, ...] = (), optional: tuple[str, ...] = (),
                  before: Optional[Callable[..., bool]] = None) -> None:
    """A command from a step's model. `extra` options go to `before(params, **extra)`, which may answer the
    command itself (True: done); `optional` fields may be left out on the command line for it."""

    def command(**kwargs):
        settings = {k: kwargs.pop(k) for k in ("address", "workers", "verbose")}
        extras = {p.name: kwargs.pop(p.name) for p in extra}
        if before is not None and before(kwargs, **extras):
            return
        run_step(validate(model, kwargs), **settings)

    command.__signature__ = inspect.Signature(command_parameters(model, optional) + list(extra) + _run_options())
    command.__doc__ = (model.__doc__ or "").strip().splitlines()[0]
    command.__name__ = model.name
    app.command(model.name)(user_errors(command))


def _print_filter_config(params: dict, print_config: bool) -> bool:
    """`dataprep filter --print-config`: the resolved configuration, which loads back unchanged."""
    from dataprep.errors import UsageError
    from dataprep.filters.config import load_filter_config

    if print_config:
        out.print(load_filter_config(params["config"], params["url_blocklist"]).to_yaml(), end="", markup=False,
                  soft_wrap=True)
        return True
    if params["input"] is None or params["output"] is None:
        raise UsageError("dataprep filter needs IN and -o OUT (or --print-config)")
    return False


_PRINT_CONFIG = inspect.Parameter("print_config", inspect.Parameter.KEYWORD_ONLY, annotation=bool, default=typer.Option(
    False, "--print-config", help="Print the resolved filter configuration (defaults + --config) and exit."))

for _model in STEPS.values():
    if _model.name == "filter":
        _step_command(_model, (_PRINT_CONFIG,), optional=("input", "output"), before=_print_filter_config)
    else:
        _step_command(_model)


@app.command()
@user_errors
def stats(
    dataset: str = typer.Argument(..., help="Dataset folder (any fsspec URL).", metavar="DATASET"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    plot: Optional[str] = typer.Option(None, "--plot", help="Write histograms to this PNG file.", metavar="FILE.png"),
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
        if report.plot(ds, plot):
            console.print(f"wrote {plot}", markup=False, soft_wrap=True)
        else:
            console.print(f"nothing to plot: {dataset} has no length histograms or languages; {plot} not written",
                          markup=False, soft_wrap=True)


@app.command()
@user_errors
def export(
    dataset: str = typer.Argument(..., help="Dataset folder.", metavar="DATASET"),
    output: str = typer.Option(..., "-o", "--output", help="FILE.jsonl, FILE.jsonl.gz or FILE.parquet.",
                               metavar="FILE"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace FILE even if this tool did not write it."),
):
    """Write a dataset's rows to one JSONL or Parquet file (written whole, or not at all)."""
    from dataprep.dataset import open_dataset
    from dataprep.export import export as export_rows

    ds = open_dataset(dataset)
    rows = export_rows(ds, output, overwrite=overwrite)
    console.print(f"wrote {rows:,} rows to {output}", markup=False, soft_wrap=True)


@app.command()
@user_errors
def verify(
    dataset: str = typer.Argument(..., help="Dataset folder (any fsspec URL).", metavar="DATASET"),
    address: Optional[str] = typer.Option(None, "--address", help="Check on this Ray cluster's workers instead of "
                                          "in this process.", metavar="HOST:PORT"),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Shards checked at once.", metavar="N"),
):
    """Check every shard's size, sha256, rows and tokens against the manifest (exit 1 on any mismatch)."""
    from dataprep.dataset import open_dataset
    from dataprep.verify import verify_dataset

    ds = open_dataset(dataset)
    report = verify_dataset(ds, address=address, workers=workers)
    for problem in report.problems:
        console.print(f"[bold red]bad:[/bold red] {problem}", soft_wrap=True)
    if report.problems:
        from dataprep.errors import UserError

        raise UserError(f"{dataset}: {len(report.problems)} of {report.shards} shards do not match the manifest")
    console.print(f"{dataset}: {report.shards} shards, {report.rows:,} rows, {report.bytes:,} bytes: all ok",
                  markup=False, soft_wrap=True)  # one line whatever the path's length: scripts grep it


@app.command()
@user_errors
def run(
    config: str = typer.Argument(..., help="Pipeline YAML (see jobs/configs/).", metavar="CONFIG.yaml"),
    output: Optional[str] = typer.Option(None, "-o", "--output", help="Override the config's output folder.",
                                         metavar="DIR"),
    address: Optional[str] = typer.Option(None, "--address", help=ADDRESS_HELP, metavar="HOST:PORT"),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help=WORKERS_HELP, metavar="N"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print each step's resolved input, output and whether it "
                                 "would run or be skipped as finished; run nothing."),
):
    """Run a whole pipeline (crawl, ingest, filter, dedup, tokenizer, tokenize) as one job; every step is checked first.

    A rerun skips the steps an earlier run finished and, inside an unfinished step, its finished shards."""
    from dataprep.pipeline import load_config, plan, resolve, run_config

    cfg = load_config(config, {"output": output, "workers": workers, "address": address})
    if dry_run:
        from rich.table import Table

        table = Table(title=f"{config}: what `dataprep run` would do")
        for column in ("step", "input", "output", "status"):
            table.add_column(column)
        for row in plan(resolve(cfg)):
            table.add_row(*(row[c] for c in ("step", "input", "output", "status")))
        out.print(table)
        return
    written = run_config(cfg, log=lambda line: console.print(line, markup=False, soft_wrap=True))
    console.print(f"done: {written[-1]}", markup=False, soft_wrap=True)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
