"""`dataprep verify`: every shard of a dataset against its manifest: size, sha256, rows and tokens.

For users who copy datasets between stores. Shards are checked in parallel: in this process with threads
(hashing and Arrow release the GIL), or with `--address` as tasks on a Ray cluster's workers, next to the data.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Optional

import pyarrow as pa
import pyarrow.compute as pc

from dataprep.dataset.manifest import ShardInfo
from dataprep.dataset.reader import Dataset, read_shard_file
from dataprep.errors import UserError

TOKEN_COLUMNS = ("tokens", "rejected_tokens")


@dataclass
class VerifyReport:
    shards: int
    rows: int
    bytes: int
    problems: list[str] = field(default_factory=list)


def check_shard(url: str, shard: ShardInfo, dataset: str, token_columns: tuple[str, ...]) -> Optional[str]:
    """None when the shard matches its manifest entry, else one line saying how it does not."""
    try:
        table = read_shard_file(url, expect=shard, dataset=dataset)
    except UserError as exc:
        return str(exc)
    except (pa.ArrowInvalid, OSError) as exc:
        return f"shard {shard.path} of {dataset} cannot be read: {str(exc).splitlines()[0]}"
    if table.num_rows != shard.rows:
        return f"shard {shard.path} of {dataset} has {table.num_rows:,} rows, its manifest lists {shard.rows:,}"
    if shard.tokens is not None:
        tokens = sum(int(pc.sum(pc.list_value_length(table[c])).as_py() or 0)
                     for c in token_columns if c in table.column_names)
        if tokens != shard.tokens:
            return f"shard {shard.path} of {dataset} holds {tokens:,} tokens, its manifest lists {shard.tokens:,}"
    return None


def verify_dataset(ds: Dataset, address: Optional[str] = None, workers: Optional[int] = None) -> VerifyReport:
    jobs = [(ds.shard_url(s), s, ds.url, TOKEN_COLUMNS) for s in ds.shards]
    if address:
        from dataprep.distributed.verify import check_on_ray

        problems = check_on_ray(jobs, address, workers)
    else:
        with ThreadPoolExecutor(max_workers=workers or 8) as pool:
            problems = list(pool.map(lambda job: check_shard(*job), jobs))
    m = ds.manifest
    return VerifyReport(len(m.shards), m.rows, m.bytes, [p for p in problems if p])
