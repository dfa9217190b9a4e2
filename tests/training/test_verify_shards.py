"""Training checks token shards once per run (issue 9, item 3): a flipped byte is named before any step, and what
was verified is remembered in the run folder so a repeated run re-hashes only shards that changed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dataprep.errors import UserError
from training.runfolder import RunFolder
from training import verify
from training.verify import LEDGER, verify_shards


def test_shards_verified_once_and_a_flipped_byte_named(tmp_path, tokens_ds):
    data = tmp_path / "tokens"
    shutil.copytree(tokens_ds, data)
    run = RunFolder(tmp_path / "run")
    shards = sorted((data / "shards").glob("*.arrow"))
    # The CLI's check before Ray writes nothing (a refused run leaves no folder); the trainer's call then records
    # what this process verified without hashing it again.
    assert verify_shards([str(data)], run, remember=False) == len(shards) == 3
    assert not Path(run.path).exists()
    assert verify_shards([str(data)], run) == 0
    ledger = json.loads(Path(run.path, LEDGER).read_text())
    assert sorted(ledger) == [str(p) for p in shards]
    assert verify_shards([str(data)], run) == 0  # unchanged: nothing re-hashed
    verify._VERIFIED_HERE.clear()  # a new process (a resumed run): the ledger alone spares the check before Ray
    assert verify_shards([str(data)], run, remember=False) == 0

    raw = bytearray(shards[1].read_bytes())
    raw[len(raw) // 2] ^= 1  # same size, another sha256 (and a newer mtime)
    shards[1].write_bytes(bytes(raw))
    with pytest.raises(UserError, match=f"{shards[1].name} does not match the sha256 in its manifest"):
        verify_shards([str(data)], run)
    shards[1].write_bytes(bytes(raw[:-10]))
    with pytest.raises(UserError, match="bytes, its manifest records"):
        verify_shards([str(data)], run)
