"""Entry point for `ray job submit`: run a data pipeline YAML on the cluster the job was submitted to.

    ray job submit --working-dir . -- python jobs/prepare.py --config jobs/configs/web.yaml

Inside a submitted job RAY_ADDRESS is set, so the pipeline joins that cluster instead of starting Ray.
jobs/prepare_web.py and jobs/prepare_dialogue.py are this entry point with their own default config.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Optional

import typer

# Submitted with --working-dir, the project is importable from the working directory even where it is not installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dataprep.cli_errors import console, user_errors  # noqa: E402
from dataprep.pipeline import PipelineConfig, load_config, plan, resolve, run_config  # noqa: E402


def parser(description: str, default_config: Optional[str] = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--config", required=default_config is None, default=default_config,
                   help="pipeline YAML (jobs/configs/*.yaml)" + (f"; default {default_config}" if default_config else ""))
    p.add_argument("--output", help="override the config's output folder (a URL every node can reach: s3://...)")
    p.add_argument("--address", help="Ray address (default: RAY_ADDRESS, set by `ray job submit`)")
    p.add_argument("--dry-run", action="store_true", help="print each step's input, output and run/skip status")
    return p


@user_errors
def run(args: argparse.Namespace, adjust: Callable[[PipelineConfig], PipelineConfig] = lambda cfg: cfg) -> None:
    cfg = adjust(load_config(args.config, {"output": args.output, "address": args.address}))
    if args.dry_run:
        for row in plan(resolve(cfg)):
            console.print(f"{row['step']}: {row['input']} -> {row['output']} [{row['status']}]", markup=False)
        return
    written = run_config(cfg, log=lambda line: console.print(line, markup=False, soft_wrap=True))
    console.print(f"done: {written[-1]}", markup=False)


def main(args: argparse.Namespace, adjust: Callable[[PipelineConfig], PipelineConfig] = lambda cfg: cfg) -> None:
    try:
        run(args, adjust)
    except typer.Exit as exc:  # user_errors printed the one-line message already
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main(parser(__doc__.splitlines()[0]).parse_args())
