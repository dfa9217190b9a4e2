"""Token shards checked once per run: each local shard's size and sha256 against its manifest, before Ray starts.

What was verified is remembered in RUN/verified_shards.json as (sha256, size, mtime) per shard file, so a resumed
or repeated run re-hashes only shards that changed since. Shards on an object store are verified where they are
staged (training.shards.stage_shard hashes each download), so they are not fetched here.
"""

from __future__ import annotations

import json
import os
from typing import Sequence

from dataprep.dataset import open_dataset, storage
from dataprep.errors import UserError
from training.runfolder import RunFolder

LEDGER = "verified_shards.json"
# Shards this process has verified: the CLI hashes before Ray starts (without writing to a run folder a refused run
# must not create), the trainer then records them without hashing again.
_VERIFIED_HERE: dict[str, dict] = {}


def verify_shards(urls: Sequence[str], folder: RunFolder, remember: bool = True) -> int:
    """Hash every local shard of `urls` not already verified unchanged; one line naming the shard on a mismatch.
    With `remember`, the run folder's ledger records them. Returns how many shards were hashed now."""
    text = folder.read_text(LEDGER)  # reading creates nothing: a resume's check before Ray skips known shards
    ledger: dict = json.loads(text) if text else {}
    hashed, changed = 0, False
    for url in urls:
        ds = open_dataset(url, kind="tokens")
        for i, shard in enumerate(ds.shards):
            fs, path = storage.resolve(ds.shard_url(i))
            if not storage.is_local(fs):
                continue
            try:
                stat = os.stat(path)
            except OSError:
                raise UserError(f"{ds.shard_url(i)} is missing (listed in {ds.url}'s manifest)") from None
            if stat.st_size != shard.bytes:
                raise UserError(f"{ds.shard_url(i)} has {stat.st_size:,} bytes, its manifest records {shard.bytes:,}; "
                                "the dataset changed or is corrupt")
            record = {"sha256": shard.sha256, "bytes": shard.bytes, "mtime_ns": stat.st_mtime_ns}
            if ledger.get(path) == record:
                continue
            if _VERIFIED_HERE.get(path) != record:
                if storage.sha256_file(fs, path) != shard.sha256:
                    raise UserError(f"{ds.shard_url(i)} does not match the sha256 in its manifest; the dataset "
                                    "changed or is corrupt")
                _VERIFIED_HERE[path] = record
                hashed += 1
            ledger[path], changed = record, True
    if changed and remember:
        folder.write_bytes(LEDGER, json.dumps(ledger, indent=1, sort_keys=True).encode())
    return hashed
