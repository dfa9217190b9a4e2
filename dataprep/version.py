"""The code version recorded in provenance and job keys: the release plus a hash of the package's sources.

A shard written by older code must not be reused by newer code, so the hash changes with any source edit
even when the release number does not.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from dataprep import __version__


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"
