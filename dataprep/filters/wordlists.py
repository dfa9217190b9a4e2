"""Word lists shipped in dataprep/filters/lists/ (sources and licences: lists/SOURCES.md) and users' own lists."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from dataprep.errors import UserError


@functools.lru_cache(maxsize=None)
def shipped(name: str) -> tuple[str, ...]:
    """A shipped list by file stem (`ldnoobw_en`), one entry per line, `#` lines skipped."""
    path = resources.files("dataprep.filters") / "lists" / f"{name}.txt"
    if not path.is_file():
        known = sorted(p.name[:-4] for p in (resources.files("dataprep.filters") / "lists").iterdir()
                       if p.name.endswith(".txt"))
        raise UserError(f"no shipped word list {name!r}; known: {', '.join(known)}")
    return parse(path.read_text("utf-8"))


def from_file(path: str) -> tuple[str, ...]:
    """A user's list (one entry per line, `#` comments), read once when the chain is built."""
    try:
        return parse(Path(path).read_text("utf-8"))
    except FileNotFoundError:
        raise UserError(f"list file {path} does not exist") from None
    except UnicodeDecodeError:
        raise UserError(f"list file {path} is not UTF-8 text") from None


def parse(text: str) -> tuple[str, ...]:
    entries = (line.strip() for line in text.splitlines())
    return tuple(e for e in entries if e and not e.startswith("#"))
