"""The `training` command line: pretrain and eval. Errors are one line and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from dataprep.cli_errors import console, user_errors
from dataprep.errors import UserError

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Train GPT-style models from token shards on Ray.")


class _MetricsProgress:
    """A progress bar fed by the run folder's metrics.jsonl, which rank 0 appends to as it trains."""

    def __init__(self, run_dir: Path, steps: int):
        self.path = run_dir / "metrics.jsonl"
        self.steps = steps
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=5)

    def _run(self):
        columns = [TextColumn("pretrain"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                   TimeRemainingColumn()]
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task("", total=self.steps)
            while not self.stop.wait(0.5):
                last = self._last_record()
                if last:
                    desc = f"loss {last['loss']:.3f}  {last['tokens_per_s']:,.0f} tok/s"
                    if "val_loss" in last:
                        desc += f"  val {last['val_loss']:.3f}"
                    progress.update(task, completed=last["step"], description=desc)
            last = self._last_record()
            if last:
                progress.update(task, completed=last["step"])

    def _last_record(self) -> Optional[dict]:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return None
        for line in reversed(lines):
            try:
                return json.loads(line)
            except ValueError:
                continue
        return None


def _absolute(url: str) -> str:
    """Local paths made absolute: Ray workers do not share the driver's working directory."""
    return url if "://" in url else str(Path(url).expanduser().resolve())


@app.command()
@user_errors
def pretrain(
    data: Optional[str] = typer.Option(None, "--data", help="tokens dataset (local path or fsspec URL)"),
    output: Path = typer.Option(..., "-o", "--output", help="run folder: config.yaml, metrics.jsonl, checkpoints/"),
    config: Optional[Path] = typer.Option(None, "--config", help="training config YAML"),
    resume: bool = typer.Option(False, "--resume", help="continue the run in -o from its latest checkpoint"),
    overrides: list[str] = typer.Option([], "--set", help="override a config key: --set steps=2000"),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (default: RAY_ADDRESS or local)"),
    val_data: Optional[str] = typer.Option(None, "--val-data", help="held-out tokens dataset for evaluation"),
):
    """Pretrain a decoder-only transformer on next-token prediction with Ray Train."""
    from training.config import build_config
    from training.ray_launch import connect
    from training.trainer import build_trainer, check_inputs, check_model, check_run_folder, fit, saved_config

    run_dir = output.expanduser().resolve()
    base = saved_config(run_dir) if resume else None
    if resume and base is None:
        raise UserError(f"--resume: {run_dir} is not a run folder (no config.yaml)")
    extra = [f"data={_absolute(data)}"] if data else []
    extra += [f"val_data={_absolute(val_data)}"] if val_data else []
    cfg = build_config(base, config, extra + list(overrides))
    check_inputs(cfg)  # fail fast, before starting Ray
    check_model(cfg)
    check_run_folder(cfg, run_dir, resume)
    joined = connect(address)
    trainer = build_trainer(cfg, run_dir, resume=resume, joined_cluster=joined)
    console.print(f"pretraining [bold]{cfg.model}[/] for {cfg.steps} steps on {cfg.num_workers} worker(s) -> {run_dir}")
    with _MetricsProgress(run_dir, cfg.steps):
        result = fit(trainer)
    metrics = result.metrics or {}
    summary = {k: metrics[k] for k in ("step", "loss", "val_loss", "tokens") if k in metrics}
    if result.checkpoint is not None:
        summary["checkpoint"] = result.checkpoint.path
    print(json.dumps(summary))  # stdout: one JSON object for scripts; progress and errors go to stderr


@app.command("eval")
@user_errors
def eval_command(
    checkpoint: Path = typer.Option(..., "--checkpoint", help="a checkpoint folder, or a run folder (its latest)"),
    data: str = typer.Option(..., "--data", help="tokens dataset to evaluate on"),
    batch_size: int = typer.Option(8, "--batch-size", min=1),
    max_batches: Optional[int] = typer.Option(None, "--max-batches", min=1, help="stop after this many batches"),
    seq_len: Optional[int] = typer.Option(None, "--seq-len", min=1, help="default: the training seq_len"),
):
    """Loss and perplexity of a checkpoint on a tokens dataset (prints one JSON object)."""
    from training.evaluate import evaluate_checkpoint

    result = evaluate_checkpoint(checkpoint, data, batch_size, max_batches, seq_len)
    print(json.dumps(result))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
