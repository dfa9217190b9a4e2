"""The `training` command line: pretrain, sft, dpo (on Ray Train), eval, chat and export (in-process, no Ray).
Errors are one line and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from dataprep.cli_errors import console, user_errors
from dataprep.errors import UsageError, UserError

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Train GPT-style models from token shards on Ray, evaluate and chat with them.")


class _MetricsProgress:
    """A progress bar fed by the run folder's metrics.jsonl, which rank 0 appends to as it trains (on an object
    store: uploads at each of Ray's reports, polled less often); start-up checks that rank 0 writes to
    events.jsonl (DPO's health line, skipped damaged checkpoints) are printed above it as they appear."""

    def __init__(self, run_dir: str, steps: int, label: str):
        from training.runfolder import RunFolder

        self.folder = RunFolder(run_dir)
        self.poll = 0.5 if self.folder.is_local else 2.0
        self.steps, self.label = steps, label
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.seen_events = len(self._read("events.jsonl"))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=5)

    def _run(self):
        columns = [TextColumn(self.label), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                   TimeRemainingColumn()]
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task("", total=self.steps)
            while not self.stop.wait(self.poll):
                self._print_events(progress)
                last = self._last_record()
                if last:
                    desc = f"loss {last['loss']:.3f}"
                    if last.get("tokens_per_s"):
                        desc += f"  {last['tokens_per_s']:,.0f} tok/s"
                    if "reward_accuracy" in last:
                        desc += f"  acc {last['reward_accuracy']:.2f}"
                    if "val_loss" in last:
                        desc += f"  val {last['val_loss']:.3f}"
                    progress.update(task, completed=last["step"], description=desc)
            self._print_events(progress)
            last = self._last_record()
            if last:
                progress.update(task, completed=last["step"])

    def _read(self, name: str) -> list[str]:
        try:
            return (self.folder.read_text(name) or "").splitlines()
        except OSError:
            return []

    def _print_events(self, progress) -> None:
        for line in self._read("events.jsonl")[self.seen_events :]:
            try:
                event = json.loads(line)
            except ValueError:
                return  # a line being written: read it next time
            self.seen_events += 1
            if event.get("event") == "health":
                verdict = "ok" if event["ok"] else "WARNING: the policy does not start as its reference"
                progress.console.print(
                    f"start-up check: step-0 loss {event['step0_loss']:.4f} (ln 2 = {event['ln2']:.4f}), rewards "
                    f"chosen {event['rewards_chosen']:.4f} rejected {event['rewards_rejected']:.4f}: {verdict}",
                    highlight=False,
                )
            elif event.get("event") == "checkpoint_skipped":
                progress.console.print(f"warning: {event['reason']}; resumed from {event['resumed_from']}",
                                       highlight=False, soft_wrap=True)

    def _last_record(self) -> Optional[dict]:
        for line in reversed(self._read("metrics.jsonl")):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if "loss" in record:  # not the step-0 evaluation
                return record
        return None


def _absolute(url: str) -> str:
    """Local paths made absolute (Ray workers do not share the driver's working directory), URLs as given."""
    from training.runfolder import normalize

    return normalize(url)


# What a fine-tuning run changes in the defaults (a config file and --set still override them).
COMMAND_DEFAULTS = {"sft": {"eval_at_start": True}, "dpo": {"eval_at_start": True}}


def _describe_data(summary: dict, objective: str) -> str:
    if objective == "sft":
        reasons = ", ".join(f"{k}: {v}" for k, v in summary["sft_dropped_reasons"].items())
        return (f"sft data: {summary['train_conversations']:,} conversations for training, "
                f"{summary['val_conversations']:,} held out; sft_truncated {summary['sft_truncated']:,} "
                f"(cut at a turn boundary), sft_dropped {summary['sft_dropped']:,}" + (f" ({reasons})" if reasons else ""))
    reasons = ", ".join(f"{k}: {v}" for k, v in summary["dpo_dropped_reasons"].items())
    return (f"dpo data: {summary['train_pairs']:,} pairs for training, {summary['val_pairs']:,} held out; "
            f"dpo_truncated {summary['dpo_truncated']:,}, dpo_dropped {summary['dpo_dropped']:,}"
            + (f" ({reasons})" if reasons else ""))


def _train(objective: str, data, output, config, resume, overrides, address, val_data, init=None) -> None:
    from training.config import build_config, load_yaml
    from training.objectives import make_objective
    from dataprep.distributed.runtime import ray_session
    from training.runfolder import RunFolder
    from training.trainer import (build_trainer, check_inputs, check_memory, check_model, check_run_folder, data_urls,
                                  fit, resume_warnings, saved_config)
    from training.verify import verify_shards

    run_dir = _absolute(output)
    base = saved_config(run_dir) if resume else None
    if resume and base is None:
        raise UserError(f"--resume: {run_dir} is not a run folder (no config.yaml)")
    if any(item.split("=", 1)[0].strip() in ("objective", "init") for item in overrides):
        raise UsageError("`objective` and `init` are set by the command and its --init, not by --set")
    if config is not None and load_yaml(config).get("objective", objective) != objective:
        raise UsageError(f"{config} is a {load_yaml(config)['objective']} config; `training {objective}` trains {objective}")
    extra = [f"data={_absolute(data)}"] if data else []
    extra += [f"val_data={_absolute(val_data)}"] if val_data else []
    extra += [f"init={_absolute(str(init))}"] if init else []
    cfg = build_config(base if base is not None else COMMAND_DEFAULTS.get(objective), config,
                       extra + list(overrides) + [f"objective={objective}"])
    if objective != "pretrain" and base is None and "model" in cfg.model_fields_set:
        raise UsageError(f"`training {objective}` takes its model from --init; do not set `model`")
    inputs = check_inputs(cfg)  # fail fast, before starting Ray
    check_model(cfg)
    check_run_folder(cfg, run_dir, resume)
    if address is None and not os.environ.get("RAY_ADDRESS"):
        check_memory(cfg, inputs)  # a local run: before Ray starts
    verify_shards(data_urls(cfg), RunFolder(run_dir), remember=False)  # before Ray: a corrupt shard is named, not trained on
    for line in resume_warnings(run_dir):
        console.print(line, highlight=False, soft_wrap=True)  # one line, whatever the terminal's width
    if objective != "pretrain":
        console.print(_describe_data(make_objective(cfg).open_data(cfg, inputs.tokenizer_sha256).summary, objective),
                      highlight=False)
    with ray_session(address) as joined:
        trainer = build_trainer(cfg, run_dir, resume=resume, joined_cluster=joined)
        model = f"--init {inputs.init_dir}" if inputs.init_dir else f"[bold]{cfg.model}[/]"
        console.print(f"{objective}: {model} for {cfg.steps} steps on {cfg.num_workers} worker(s) -> {run_dir}")
        with _MetricsProgress(run_dir, cfg.steps, objective):
            result = fit(trainer)
    metrics = result.metrics or {}
    keys = ("step", "loss", "val_loss", "tokens", "reward_accuracy", "reward_margin", "val_reward_accuracy",
            "val_reward_margin")
    summary = {k: metrics[k] for k in keys if k in metrics}
    if result.checkpoint is not None:
        summary["checkpoint"] = result.checkpoint.path
    print(json.dumps(summary))  # stdout: one JSON object for scripts; progress and errors go to stderr


DATA_HELP = "tokens dataset (local path or fsspec URL)"
RUN_HELP = "run folder (local path or fsspec URL such as s3://bucket/run): config.yaml, metrics.jsonl, checkpoints/"


@app.command()
@user_errors
def pretrain(
    data: Optional[str] = typer.Option(None, "--data", help=DATA_HELP),
    output: str = typer.Option(..., "-o", "--output", help=RUN_HELP),
    config: Optional[Path] = typer.Option(None, "--config", help="training config YAML"),
    resume: bool = typer.Option(False, "--resume", help="continue the run in -o from its latest checkpoint"),
    overrides: list[str] = typer.Option([], "--set", help="override a config key: --set steps=2000"),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (default: RAY_ADDRESS or local)"),
    val_data: Optional[str] = typer.Option(None, "--val-data", help="held-out tokens dataset for evaluation"),
):
    """Pretrain a decoder-only transformer on next-token prediction with Ray Train."""
    _train("pretrain", data, output, config, resume, overrides, address, val_data)


def _fine_tuning(objective: str, kind: str, init_help: str, doc: str):
    """The `sft` and `dpo` commands: the same flags, another objective."""

    def command(
        data: Optional[str] = typer.Option(None, "--data", help=f"{kind} tokens (`dataprep tokenize` of a {kind}s dataset)"),
        init: Optional[str] = typer.Option(None, "--init", help=init_help),
        output: str = typer.Option(..., "-o", "--output", help=RUN_HELP),
        config: Optional[Path] = typer.Option(None, "--config", help="training config YAML"),
        resume: bool = typer.Option(False, "--resume", help="continue the run in -o from its latest checkpoint"),
        overrides: list[str] = typer.Option([], "--set", help="override a config key: --set steps=500"),
        address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (default: RAY_ADDRESS or local)"),
        val_data: Optional[str] = typer.Option(None, "--val-data", help=f"held-out {kind} tokens"),
    ):
        _train(objective, data, output, config, resume, overrides, address, val_data, init)

    command.__doc__ = doc
    app.command(objective)(user_errors(command))


_fine_tuning("sft", "dialogue", "checkpoint to start from (a run folder: its latest)",
             "Fine-tune on dialogues: loss on assistant turns only, conversations packed without attending to each "
             "other.")
_fine_tuning("dpo", "preference", "the SFT checkpoint: the policy's start and the frozen reference",
             "Preference tuning with DPO's sigmoid loss against a frozen reference (the --init checkpoint).")


@app.command("eval")
@user_errors
def eval_command(
    checkpoint: str = typer.Option(..., "--checkpoint", help="a checkpoint folder, or a run folder (its latest); "
                                   "local or any fsspec URL"),
    data: str = typer.Option(..., "--data", help="tokens dataset: documents, dialogues or preferences"),
    batch_size: int = typer.Option(8, "--batch-size", min=1),
    max_batches: Optional[int] = typer.Option(None, "--max-batches", min=1, help="stop after this many batches"),
    seq_len: Optional[int] = typer.Option(None, "--seq-len", min=1, help="default: the training seq_len"),
    reference: Optional[str] = typer.Option(None, "--reference", help="preferences: the DPO reference checkpoint "
                                             "(default: the checkpoint's --init)"),
):
    """Loss of a checkpoint on a tokens dataset, in-process (prints one JSON object): perplexity on documents,
    assistant-token loss on dialogues, DPO loss and rewards on preferences."""
    from training.evaluate import evaluate_checkpoint

    result = evaluate_checkpoint(checkpoint, data, batch_size, max_batches, seq_len, reference=reference)
    print(json.dumps(result))


@app.command()
@user_errors
def chat(
    checkpoint: str = typer.Option(..., "--checkpoint", help="a checkpoint folder, or a run folder (its latest); "
                                   "local or any fsspec URL"),
    prompt: Optional[str] = typer.Option(None, "--prompt", help="answer this one message and exit (stdout: the answer)"),
    system: Optional[str] = typer.Option(None, "--system", help="system message"),
    temperature: float = typer.Option(0.7, "--temperature", min=0.0, help="0: greedy"),
    top_k: int = typer.Option(50, "--top-k", min=0, help="sample among the k likeliest tokens (0: all)"),
    top_p: float = typer.Option(0.9, "--top-p", min=0.0, max=1.0, help="nucleus: the smallest set of this mass"),
    seed: int = typer.Option(0, "--seed", help="sampling seed (same seed, same answers)"),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", min=1),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda (default: cuda when available)"),
):
    """Chat with a checkpoint in the terminal (in-process, no Ray). /clear, /system TEXT, /regen, /exit;
    Ctrl+C stops an answer, Ctrl+C at an empty prompt or Ctrl+D exits."""
    import torch

    from dataprep.tokenizer.model import from_bytes
    from training.chat import HELP, Chat, ChatOptions, interactive
    from training.checkpoint import TOKENIZER, load_model, read_tokenizer
    from training.generate import Sampling

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model, state, directory = load_model(checkpoint, device)
    model.eval()
    tokenizer = from_bytes(read_tokenizer(directory), str(directory / TOKENIZER))
    if not tokenizer.has_chat_tokens():
        raise UserError(f"{directory / TOKENIZER} has no chat tokens; train the tokenizer with `dataprep tokenizer`")
    options = ChatOptions(system, Sampling(temperature, top_k, top_p, seed), max_new_tokens)
    session = Chat(model, tokenizer, options)
    if prompt is not None:
        session.answer(prompt)
        return
    banner = (f"chat with {directory} (step {state['step']}, {model.cfg.max_seq_len}-token context). {HELP}; "
              "Ctrl+C stops an answer; Ctrl+D exits.")
    raise typer.Exit(interactive(session, banner))


@app.command()
@user_errors
def export(
    checkpoint: Path = typer.Option(..., "--checkpoint", help="a checkpoint folder, or a run folder (its latest)"),
    output: str = typer.Option(..., "-o", "--output", help="the folder to write: new, empty or an earlier export"),
    dtype: str = typer.Option("float32", "--dtype", help="weights as float32 or bfloat16"),
    tokenizer: Optional[str] = typer.Option(None, "--tokenizer", help="the run's tokenizer .model, for checkpoints "
                                            "written before they carried it (checked by sha256)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace -o even if it is not an export of ours"),
):
    """Write a Hugging Face transformers folder (LlamaForCausalLM, tokenizer, chat template) for a checkpoint,
    in-process (no Ray, no GPU). Prints one JSON object."""
    from training.export import export_checkpoint

    result = export_checkpoint(checkpoint, output, dtype, tokenizer=tokenizer, overwrite=overwrite)
    print(json.dumps(result.to_dict()))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
