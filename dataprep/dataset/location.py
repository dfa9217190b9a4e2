"""Comparing where things live: is an output equal to, inside or containing an input?

Locations are normalized before they are compared: the protocol's own spelling is folded (`file://`, no
protocol), trailing slashes are removed and local paths are resolved to real paths (symlinks, `..`), so
`out/../docs/` and `docs` are the same folder.
"""

from __future__ import annotations

import os
from typing import Literal, Optional

from dataprep.dataset import storage

Relation = Literal["equal", "inside", "containing"]


def normalize(url: str) -> tuple[str, str]:
    """(store, path): `file` and a real absolute path for local files, else the protocol and its path."""
    fs, path = storage.resolve(url)
    if storage.is_local(fs):
        return "file", os.path.realpath(path)
    protocol = fs.protocol[0] if isinstance(fs.protocol, (list, tuple)) else fs.protocol
    return protocol, "/" + path.strip("/")


def relation(a: str, b: str) -> Optional[Relation]:
    """How location `a` stands to location `b`: the same, inside it, containing it, or unrelated (None)."""
    (sa, pa), (sb, pb) = normalize(a), normalize(b)
    if sa != sb:
        return None
    if pa == pb:
        return "equal"
    if pa.startswith(pb.rstrip("/") + "/"):
        return "inside"
    if pb.startswith(pa.rstrip("/") + "/"):
        return "containing"
    return None


def display(url: str) -> str:
    return str(url).rstrip("/") or str(url)
