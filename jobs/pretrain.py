"""Entry point for `ray job submit`: pretrain with a job YAML on the cluster the job was submitted to.

    ray job submit --working-dir . -- python jobs/pretrain.py --config jobs/configs/pretrain.yaml

The job YAML names `output` (the run folder, on storage every node can reach), optionally `config` (a training
config file to start from, e.g. training/configs/gpt2-124m.yaml), and any training config keys on top, `data`
and `val_data` included. Inside a submitted job RAY_ADDRESS is set, so training joins that cluster. Submitting
the same job again with --resume continues the run from its latest checkpoint.
"""

from __future__ import annotations

import argparse
import sys

from training_job import add_common_flags, common_arguments, read_job, run_section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="job YAML (jobs/configs/pretrain.yaml)")
    add_common_flags(parser)
    args = parser.parse_args(argv)
    return run_section("pretrain", read_job(args.config), args.config, common_arguments(args))


if __name__ == "__main__":
    sys.exit(main())
