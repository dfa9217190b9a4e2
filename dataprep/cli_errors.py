"""The command lines' error boundary: any failure becomes one line on stderr and a non-zero exit."""

from __future__ import annotations

import functools
import os
from typing import Callable, Optional

import typer
from rich.console import Console

from dataprep.errors import UserError

console = Console(stderr=True)


def find_user_error(exc: BaseException) -> Optional[UserError]:
    """A UserError raised anywhere under `exc`: Ray wraps worker exceptions (task errors, Train worker groups)."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, UserError):
            return e
        stack.extend([getattr(e, "cause", None), e.__cause__, e.__context__])
        failures = getattr(e, "worker_failures", None)
        if isinstance(failures, dict):
            stack.extend(failures.values())
    return None


def fail(message: str, exit_code: int = 1) -> None:
    console.print(f"[bold red]error:[/bold red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=exit_code)


def user_errors(fn: Callable = None, *, exit_code: int = 1) -> Callable:
    """Decorate a command so every failure is one line; DATAPREP_DEBUG=1 shows the traceback instead."""
    if fn is None:
        return functools.partial(user_errors, exit_code=exit_code)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            fail("interrupted", exit_code)
        except Exception as exc:  # noqa: BLE001 - the CLI boundary
            if os.environ.get("DATAPREP_DEBUG"):
                raise
            user = find_user_error(exc)
            if user is not None:
                fail(str(user), exit_code)
            first = (str(exc).strip().splitlines() or [""])[0]
            fail(f"{type(exc).__name__}: {first} (set DATAPREP_DEBUG=1 for the traceback)", exit_code)

    return wrapper
