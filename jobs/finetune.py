"""Entry point for `ray job submit`: SFT on dialogues, then DPO on preference pairs from the SFT model, one job.

    ray job submit --working-dir . -- python jobs/finetune.py --config jobs/configs/finetune.yaml

The job YAML has an `sft` and a `dpo` section, each a `training sft` / `training dpo` run (see jobs/training_job.py);
DPO's `init` defaults to SFT's output. --only sft|dpo runs one of them; a failed SFT stops the job before DPO.
"""

from __future__ import annotations

import argparse
import sys

from training_job import add_common_flags, common_arguments, console, read_job, run_section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="job YAML (jobs/configs/finetune.yaml)")
    parser.add_argument("--only", choices=["sft", "dpo"], help="run one of the two")
    add_common_flags(parser)
    args = parser.parse_args(argv)
    job = read_job(args.config)
    missing = [name for name in ("sft", "dpo") if args.only in (None, name) and not isinstance(job.get(name), dict)]
    if missing:
        console.print(f"[bold red]error:[/] {args.config} has no `{missing[0]}` section", highlight=False)
        return 2
    dpo = dict(job.get("dpo") or {})
    dpo.setdefault("init", (job.get("sft") or {}).get("output"))
    for name, section in (("sft", job.get("sft")), ("dpo", dpo)):
        if args.only in (None, name):
            code = run_section(name, section, f"{args.config}: {name}", common_arguments(args))
            if code:
                return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
