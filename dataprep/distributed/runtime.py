"""Starting or joining Ray. Every dataprep command goes through `ray_session`."""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Iterator, Optional

import ray

from dataprep.errors import UserError


def resolve_address(address: Optional[str]) -> Optional[str]:
    """`--address` wins, then RAY_ADDRESS (set by `ray job submit` for its entry points)."""
    return address or os.environ.get("RAY_ADDRESS") or None


@contextlib.contextmanager
def ray_session(address: Optional[str] = None, num_cpus: Optional[int] = None) -> Iterator[None]:
    """Join the cluster at `address`, or start an embedded local Ray sized to this machine.

    A session opened inside an already-initialised Ray (tests, job entry points) reuses it and leaves it running.
    """
    if ray.is_initialized():
        yield
        return
    address = resolve_address(address)
    kwargs = dict(logging_level=logging.WARNING, log_to_driver=True)
    try:
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        if not address:
            raise
        hint = "is the cluster running?"
        if os.environ.get("RAY_AUTH_MODE") != "token":
            hint += " Clusters use token auth by default: export RAY_AUTH_MODE=token (token in ~/.ray/auth_token or RAY_AUTH_TOKEN)"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"cannot connect to Ray at {address}: {first}; {hint}") from None
    configure_data_context()
    try:
        yield
    finally:
        ray.shutdown()


def configure_data_context() -> None:
    ctx = ray.data.DataContext.get_current()
    # Our units are already sized; keep Ray Data from re-splitting or reordering them.
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = True
    # Ray Data's per-dataset INFO lines ("Starting execution...", "Data sink ... finished") drown our own
    # output; its progress bars stay.
    ctx.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
