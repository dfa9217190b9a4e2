"""dataprep: turn raw corpora into clean, deduplicated, tokenized Arrow shards on Ray."""

__version__ = "0.1.0"
