"""The export folder's lifecycle: a new or empty folder, or an earlier export of ours, never a user's files.

The export is written into a temporary sibling folder and renamed into place at the end, so DIR holds either the
previous export or the new one, complete, and a failed export leaves DIR as it was. An earlier export is
recognised by its marker file, which records where it came from (the checkpoint's sha256s); a folder holding
files an export does not write is a user's, replaced only with `--overwrite`.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from dataprep.dataset.lifecycle import check_file_output
from dataprep.dataset.location import relation
from dataprep.errors import UserError

MARKER = "raylm_export.json"
FORMAT = "raylm-hf-export"
FILES = frozenset({
    MARKER, "config.json", "generation_config.json", "model.safetensors", "tokenizer.model", "tokenizer.json",
    "tokenizer_config.json", "special_tokens_map.json",
})


def is_our_export(folder: Path) -> bool:
    """A marker of ours, and no file an export does not write."""
    try:
        marker = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return False
    names = {p.name for p in folder.iterdir()}
    return isinstance(marker, dict) and marker.get("format") == FORMAT and names <= FILES


def check_output(out: Path, checkpoint: Path, given: Path, overwrite: bool) -> None:
    """Before any work: `out` is not the checkpoint folder, inside it or around it, nor around the folder
    given as --checkpoint (a run folder: RUN/export is allowed, RUN is not); new, empty or an export of ours."""
    for path, refused in ((checkpoint, ("equal", "inside", "containing")), (given, ("equal", "containing"))):
        rel = relation(str(out), str(path))
        if rel in refused:
            where = "the checkpoint" if rel == "equal" else f"{rel} the checkpoint"
            raise UserError(f"-o {out} is {where} {path}; write the export to another folder")
    if out.exists() and not out.is_dir():
        raise UserError(f"-o {out} is a file, not a folder")
    # The same rule as every output: replaced only when we wrote it (or it is empty), or with --overwrite.
    ours = not out.exists() or not any(out.iterdir()) or is_our_export(out)
    check_file_output(str(out), "-o", ours, overwrite)


@contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """A temporary sibling of `out` to write into; on success it replaces `out`, on failure it is removed."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:12]
    tmp = out.parent / f".{out.name}.export-{tag}.tmp"
    tmp.mkdir()
    try:
        yield tmp
        if out.exists():
            old = out.parent / f".{out.name}.replaced-{tag}.tmp"
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old)
        else:
            os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
