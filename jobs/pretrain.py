"""Entry point for `ray job submit`: pretrain with a job YAML on the cluster the job was submitted to.

    ray job submit --working-dir . -- python jobs/pretrain.py --config jobs/configs/pretrain.yaml

The job YAML names `output` (the run folder, on storage every node can reach), optionally `config` (a training
config file to start from, e.g. training/configs/gpt2-124m.yaml), and any training config keys on top, `data`
and `val_data` included. Inside a submitted job RAY_ADDRESS is set, so training joins that cluster. Submitting
the same job again continues the run from its latest checkpoint.
"""

from __future__ import annotations

import argparse
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


def job_arguments(job_file: str, extra: list[str]) -> tuple[list[str], str]:
    """The `training pretrain` arguments for a job YAML, and the merged training config's YAML text."""
    job = load_yaml(job_file)
    output = job.pop("output", None)
    if not output:
        raise UserError(f"{job_file} has no `output` (the run folder)")
    base = job.pop("config", None)
    merged = load_yaml(ROOT / base if not Path(base).is_absolute() else base) if base else {}
    merged.update(job)
    return ["pretrain", "-o", str(output), *extra], yaml.safe_dump(merged, sort_keys=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="job YAML (jobs/configs/pretrain.yaml)")
    parser.add_argument("--resume", action="store_true", help="continue the run folder's run (config changes allowed)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="override a config key")
    parser.add_argument("--address", help="Ray address (default: RAY_ADDRESS, set by `ray job submit`)")
    args = parser.parse_args(argv)
    extra = (["--resume"] if args.resume else []) + [f"--set={o}" for o in args.overrides]
    extra += [f"--address={args.address}"] if args.address else []
    try:
        cli_args, merged = job_arguments(args.config, extra)
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


if __name__ == "__main__":
    sys.exit(main())
