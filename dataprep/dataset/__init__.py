"""Dataset folders on any fsspec URL: Arrow IPC shards plus `manifest.json` as the commit point."""

from dataprep.dataset.manifest import MANIFEST_NAME, Manifest, ShardInfo
from dataprep.dataset.reader import Dataset, open_dataset, read_shard_file
from dataprep.dataset.schemas import CLUSTERS, DIALOGUES, DOCUMENTS, PREFERENCES, token_dtype, tokens_schema
from dataprep.dataset.stats import Stats
from dataprep.dataset.writer import ShardResult, ShardWriter, build_manifest, shard_name, write_dataset

__all__ = [
    "MANIFEST_NAME",
    "Manifest",
    "ShardInfo",
    "Dataset",
    "open_dataset",
    "read_shard_file",
    "DOCUMENTS",
    "CLUSTERS",
    "DIALOGUES",
    "PREFERENCES",
    "token_dtype",
    "tokens_schema",
    "Stats",
    "ShardResult",
    "ShardWriter",
    "build_manifest",
    "shard_name",
    "write_dataset",
]
