"""The command lines' error boundary: any failure becomes one line on stderr and a non-zero exit.

Shared by `dataprep` and `training`, so both speak the same way and use the same exit codes (see `errors`).
"""

from __future__ import annotations

import functools
import os
import re
from typing import Callable, Optional

import typer
from rich.console import Console

from dataprep.errors import EXIT_FAILURE, EXIT_INTERRUPTED, UserError

console = Console(stderr=True, highlight=False)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


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
            # Ray re-raises a task's error as a subclass of it whose message is the whole remote traceback;
            # the original, with the one-line message, is its `cause`.
            cause = getattr(e, "cause", None)
            return cause if isinstance(cause, UserError) else e
        stack.extend([getattr(e, "cause", None), e.__cause__, e.__context__])
        failures = getattr(e, "worker_failures", None)
        if isinstance(failures, dict):
            stack.extend(failures.values())
    return None


def plain(message: str) -> str:
    """One line without terminal colour codes (Ray's wrapped errors carry them)."""
    return " ".join(_ANSI.sub("", message).split())


def fail(message: str, exit_code: int = EXIT_FAILURE) -> None:
    console.print(f"[bold red]error:[/bold red] {plain(message)}", soft_wrap=True, markup=True)
    raise typer.Exit(code=exit_code)


def describe_failure(exc: BaseException) -> tuple[str, int]:
    """The one line and exit code for any exception that reaches a command's boundary."""
    user = find_user_error(exc)
    if user is not None:
        return str(user), user.exit_code
    lines = [ln for ln in _ANSI.sub("", str(exc)).splitlines() if ln.strip()]
    # Ray's wrappers put the original error's own line last ("ValueError: ..."); prefer it to the banner.
    last = next((ln.strip() for ln in reversed(lines) if re.match(r"^\w+(Error|Exception)\b", ln.strip())), None)
    detail = last or (lines[0].strip() if lines else type(exc).__name__)
    if not last:
        detail = f"{type(exc).__name__}: {detail}"
    return f"{detail} (set DATAPREP_DEBUG=1 for the traceback)", EXIT_FAILURE


def user_errors(fn: Callable) -> Callable:
    """Decorate a command so every failure is one line; DATAPREP_DEBUG=1 shows the traceback instead."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            console.print("interrupted", markup=False)
            raise typer.Exit(code=EXIT_INTERRUPTED) from None
        except Exception as exc:  # noqa: BLE001 - the CLI boundary
            if os.environ.get("DATAPREP_DEBUG"):
                raise
            message, code = describe_failure(exc)
            fail(message, code)

    return wrapper


def _plain_argument_help() -> None:
    """Arguments in --help as `SRC...`, the way every CLI writes them: typer 0.2x prints `{SRC...}... <list[str]>`.

    Both command lines import this module, so both show the same help."""
    from typer.core import TyperArgument, TyperOption

    def usage_name(self) -> str:
        name = self.display_name_raw
        name = name if self.required else f"[{name}]"
        return name if self.nargs == 1 or name.endswith("...") else name + "..."

    TyperArgument._usage_display_name = usage_name
    TyperArgument.display_type_rich = lambda self, ctx: None

    # Options without a metavar: a plain placeholder instead of typer's `<float range>` or `<list[str]>`.
    def option_placeholder(self, ctx):
        if self.metavar is not None:
            return self.metavar
        if self.is_flag or self.count:
            return None
        desc = self.type_descriptor
        if desc.is_choice:
            return "[" + "|".join(str(c) for c in desc.choices or ()) + "]"
        kind = self.bare_type().lower()
        for name, placeholder in (("int", "N"), ("float", "X"), ("path", "PATH"), ("datetime", "DATE")):
            if name in kind:
                return placeholder
        return "TEXT"

    TyperOption.display_type_rich = option_placeholder


_plain_argument_help()
