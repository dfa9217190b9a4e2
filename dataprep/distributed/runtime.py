"""Starting or joining Ray: the one module every `dataprep` and `training` command goes through.

Checks first, then Ray: an `--address` is probed with a plain TCP connect (5 s) before `ray.init`, so an
unreachable cluster is one line naming the address, never a minute of C++ log lines. Ray's own chatter stays in
its session folder (`--verbose` shows workers' logs): token authentication is kept on (Ray's default), without
Ray announcing it on every command.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from typing import Iterator, Optional
from urllib.parse import urlsplit

from dataprep.errors import UserError

CONNECT_TIMEOUT_S = 5.0


def resolve_address(address: Optional[str]) -> Optional[str]:
    """`--address` wins, then RAY_ADDRESS (set by `ray job submit` for its entry points)."""
    return address or os.environ.get("RAY_ADDRESS") or None


def check_reachable(address: str) -> None:
    """Refuse, in one line, an address nothing answers on. `auto` and `local` are Ray's own words: left to it."""
    if address in ("auto", "local"):
        return
    target = address if "://" in address else f"tcp://{address}"
    parts = urlsplit(target)
    host, port = parts.hostname, parts.port
    if not host or not port:
        raise UserError(f"--address {address!r} is not HOST:PORT (for example 127.0.0.1:6379)")
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UserError(
            f"cannot reach the Ray cluster at {address}: {reason}; is it running? (`ray status --address {address}`)"
        ) from None


def quiet_ray_logging(verbose: bool = False) -> None:
    # Token authentication stays on (Ray's default for a new local cluster); only its announcement on every
    # command is silenced. (Setting RAY_AUTH_MODE here instead would come after `import ray` has read it.)
    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(
        logging.WARNING if verbose else logging.ERROR)
    if not verbose:
        # When one task fails, the results of its siblings that were never fetched are errors too; the first
        # one is the user's message, the others would only repeat it as log lines.
        os.environ.setdefault("RAY_IGNORE_UNHANDLED_ERRORS", "1")
    level = logging.INFO if verbose else logging.WARNING
    for name in ("ray", "ray.data", "ray.train", "ray.tune"):
        logging.getLogger(name).setLevel(level)


def start_ray(address: Optional[str] = None, num_cpus: Optional[int] = None, verbose: bool = False) -> bool:
    """Join `address` (checked first) or start a local Ray sized to this machine. Returns whether a cluster was joined."""
    import ray

    address = resolve_address(address)
    if address:
        check_reachable(address)
    if ray.is_initialized():
        return bool(address)
    quiet_ray_logging(verbose)
    level = logging.INFO if verbose else logging.WARNING
    try:
        if address:
            ray.init(address=address, logging_level=level, log_to_driver=verbose)
        else:
            ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False, logging_level=level,
                     log_to_driver=verbose)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        hint = "is the cluster running?"
        if address and os.environ.get("RAY_AUTH_MODE") == "token" and "token" in str(exc).lower():
            hint = "clusters use token auth: put the cluster's token in ~/.ray/auth_token or RAY_AUTH_TOKEN"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"cannot start or join Ray at {address or 'this machine'}: {first}; {hint}") from None
    configure_data_context()
    return bool(address)


@contextlib.contextmanager
def ray_session(address: Optional[str] = None, num_cpus: Optional[int] = None, verbose: bool = False) -> Iterator[bool]:
    """Ray for the length of a command; yields whether a cluster was joined. A session opened inside an
    already-initialised Ray (tests, job entry points) reuses it and leaves it running."""
    import ray

    owned = not ray.is_initialized()
    joined = start_ray(address, num_cpus, verbose)
    try:
        yield joined
    finally:
        if owned and ray.is_initialized():
            ray.shutdown()


def configure_data_context() -> None:
    import ray

    ctx = ray.data.DataContext.get_current()
    # Our units are already sized; keep Ray Data from re-splitting or reordering them.
    ctx.execution_options.preserve_order = True
    # Our own progress line reports shards, rows and MB/s; Ray Data's bars would print "tqdm is not installed".
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "Progress bars disabled": on purpose
