"""Parameters declared once: a pydantic model per stage holds each name, default, range and help.

The command line is generated from the model (`command_parameters`), a pipeline YAML validates into the same
model, and both report a bad value in the words the user typed: `--threshold` on the command line,
`steps[1].dedup.threshold` in a YAML file (`validate`).

A field's CLI spelling lives in its `json_schema_extra`:
    argument=True      a positional argument (a list field takes one or more)
    flags=[...]        the option names (default: --field-name; booleans defaulting to True get --no-field-name)
    metavar="N"        the placeholder shown in --help
    cli=False          not on the command line (pipeline-only fields)
    required_on_cli    the field is optional in a pipeline (filled from the previous step) but required here
"""

from __future__ import annotations

import inspect
import types
import typing
from typing import Any, Literal, Optional, Union

import typer
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dataprep.errors import UsageError


class Params(BaseModel):
    """Base of every stage's parameter model: unknown keys are errors, defaults are validated too."""

    model_config = ConfigDict(extra="forbid", validate_default=True, protected_namespaces=())


def Opt(default: Any = ..., help: str = "", *, flags: Optional[list[str]] = None, metavar: Optional[str] = None,
        argument: bool = False, cli: bool = True, required_on_cli: bool = False, **constraints) -> Any:
    """A pydantic Field with its help and its command-line spelling."""
    extra = {"flags": flags, "metavar": metavar, "argument": argument, "required_on_cli": required_on_cli}
    extra = {k: v for k, v in extra.items() if v}
    if not cli:
        extra["cli"] = False
    return Field(default, description=help, json_schema_extra=extra, **constraints)


def _extra(field) -> dict:
    return field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}


def flag_of(model: type[BaseModel], name: str) -> str:
    """The command-line spelling of a field (its longest option name), or its name for an argument."""
    field = model.model_fields[name]
    extra = _extra(field)
    if extra.get("argument"):
        return name.upper()
    flags = extra.get("flags") or [f"--{name.replace('_', '-')}"]
    return max(flags, key=len)


def _strip_optional(annotation):
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _metavar(annotation, name: str) -> Optional[str]:
    base = _strip_optional(annotation)
    origin = typing.get_origin(base)
    if origin is Literal:
        return "[" + "|".join(str(a) for a in typing.get_args(base)) + "]"
    if origin in (list, tuple):
        return name.upper().rstrip("S") or "VALUE"
    if base is int:
        return "N"
    if base is float:
        return "X"
    if base is str:
        return "TEXT"
    return None


def command_parameters(model: type[BaseModel], optional: tuple[str, ...] = ()) -> list[inspect.Parameter]:
    """typer parameters for every command-line field of `model`, arguments first.

    `optional`: fields the command lets the user leave out (it checks them itself)."""
    arguments, options = [], []
    for name, field in model.model_fields.items():
        extra = _extra(field)
        if extra.get("cli") is False:
            continue
        annotation = field.annotation
        base = _strip_optional(annotation)
        required = (field.is_required() or extra.get("required_on_cli")) and name not in optional
        default = ... if required else field.get_default(call_default_factory=True)
        metavar = extra.get("metavar") or _metavar(annotation, name)
        if extra.get("argument"):
            param = typer.Argument(default, help=field.description or "", metavar=metavar, show_default=False)
            arguments.append(inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                               default=param, annotation=annotation))
            continue
        flags = list(extra.get("flags") or [f"--{name.replace('_', '-')}"])
        if base is bool:
            metavar = None
            if default is True:
                flags = [f"{flags[-1]}/--no-{flags[-1].removeprefix('--')}"]
        show_default = default is not ... and default not in (None, False, [], ())
        param = typer.Option(default, *flags, help=field.description or "", metavar=metavar,
                             show_default=show_default)
        if required:
            annotation = base
        options.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=param,
                                         annotation=annotation))
    return arguments + options


def validate(model: type[BaseModel], data: dict[str, Any], where: Optional[str] = None):
    """Build `model` from `data`; a bad value becomes a UsageError naming the flag (where=None) or the YAML key."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(p) for p in err["loc"]]
        name = loc[0] if loc else ""
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            known = ", ".join(n for n in model.model_fields)
            message = f"unknown key; known keys: {known}"
        if where is None:
            label = flag_of(model, name) if name in model.model_fields else name
            raise UsageError(f"{label}: {message}") from None
        label = ".".join([where, *loc]) if loc else where
        raise UsageError(f"{label}: {message}") from None
