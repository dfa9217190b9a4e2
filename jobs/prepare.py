"""Entry point for `ray job submit`: run a data pipeline YAML on the cluster the job was submitted to.

    ray job submit --working-dir . -- python jobs/prepare.py --config jobs/configs/web.yaml

Inside a submitted job RAY_ADDRESS is set, so the pipeline joins that cluster instead of starting Ray.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import typer

# Submitted with --working-dir, the project is importable from the working directory even where it is not installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dataprep.cli_errors import console, user_errors  # noqa: E402
from dataprep.pipeline import load_config, run_config  # noqa: E402


@user_errors
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="pipeline YAML (jobs/configs/*.yaml)")
    parser.add_argument("--output", help="override the config's output folder")
    parser.add_argument("--address", help="Ray address (default: RAY_ADDRESS, set by `ray job submit`)")
    args = parser.parse_args(argv)
    cfg = load_config(args.config, {"output": args.output, "address": args.address})
    written = run_config(cfg, log=lambda line: console.print(line, markup=False, soft_wrap=True))
    console.print(f"done: {written[-1]}", markup=False)


if __name__ == "__main__":
    try:
        main()
    except typer.Exit as exc:  # user_errors printed the one-line message already
        sys.exit(exc.exit_code)
