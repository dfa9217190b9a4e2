"""A job YAML section -> one `training` CLI run (pretrain, sft or dpo), shared by jobs/pretrain.py and jobs/finetune.py.

A section names `output` (the run folder), optionally `config` (a training config file to start from, relative to
the repository) and `init` (sft/dpo: the run to start from), and any training config keys on top.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import yaml

# Submitted with --working-dir, the project is importable from the working directory even where it is not installed.
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dataprep.errors import UserError  # noqa: E402
from training.cli import app, console  # noqa: E402
from training.config import load_yaml  # noqa: E402


def section_arguments(command: str, section: dict, where: str, extra: list[str]) -> tuple[list[str], str]:
    """The `training COMMAND` arguments for a job section, and the merged training config's YAML text."""
    section = dict(section)
    output = section.pop("output", None)
    if not output:
        raise UserError(f"{where} has no `output` (the run folder)")
    init = section.pop("init", None)
    base = section.pop("config", None)
    merged = load_yaml(ROOT / base if not Path(base).is_absolute() else base) if base else {}
    merged.update(section)
    args = [command, "-o", str(output), *([f"--init={init}"] if init else []), *extra]
    return args, yaml.safe_dump(merged, sort_keys=False)


def run_section(command: str, section: dict, where: str, extra: list[str]) -> int:
    """Run one training command in this process (joining RAY_ADDRESS's cluster); its exit code."""
    try:
        cli_args, merged = section_arguments(command, section, where, extra)
    except UserError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        return 2
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        handle.write(merged)
    try:
        # Not standalone: typer hands back the exit code (2 after a one-line error) instead of exiting here.
        code = app(cli_args + ["--config", handle.name], standalone_mode=False)
        return int(code or 0)
    finally:
        Path(handle.name).unlink(missing_ok=True)


def common_arguments(args) -> list[str]:
    extra = (["--resume"] if args.resume else []) + [f"--set={o}" for o in args.overrides]
    return extra + ([f"--address={args.address}"] if args.address else [])


def add_common_flags(parser) -> None:
    parser.add_argument("--resume", action="store_true", help="continue the run folder(s) from the latest checkpoint")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="override a config key")
    parser.add_argument("--address", help="Ray address (default: RAY_ADDRESS, set by `ray job submit`)")


def read_job(path: str) -> dict:
    job = load_yaml(path)
    if not isinstance(job, dict):
        raise UserError(f"{path} must hold a mapping")
    return job
