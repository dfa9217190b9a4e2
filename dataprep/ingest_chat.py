"""`dataprep ingest --format dialogue|preference`: JSON records -> a `dialogues` or `preferences` dataset.

Inputs are JSON Lines (cut into byte ranges like documents) or JSON arrays (`[{...}, ...]`, one unit per file).
Every record that cannot be read or validated is counted under a reason and skipped.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections import Counter
from typing import Iterator

import numpy as np
import pyarrow as pa

from dataprep.dataset.schemas import DIALOGUES, PREFERENCES
from dataprep.dataset.stats import Stats
from dataprep.langid import detect
from dataprep.shardjob import ShardJob
from dataprep.sources import files
from dataprep.sources.dialogue import parse_dialogue
from dataprep.sources.preference import parse_preference
from dataprep.sources.records import decode_utf8

# Preferences keep where they came from and their language too (extra columns are allowed).
PREFERENCES_EXT = pa.schema(list(PREFERENCES) + [pa.field("source", pa.string()), pa.field("lang", pa.string())])
ID_FIELDS = ("id", "conversation_id", "uuid")
MAX_RECORD_CHARS = 1_000_000


def plan(url: str, source: str) -> list[dict]:
    if _is_json_array(url):
        return [{"format": "json_array", "url": url, "source": source}]
    return [{"format": "jsonl", "url": url, "source": source, "start": s, "end": e} for s, e in files.byte_ranges(url)]


def _is_json_array(url: str) -> bool:
    with files.open_input(url) as handle:
        head = handle.read(4096).lstrip()
    return head.startswith(b"[")


def iter_records(unit: dict, dropped: Counter) -> Iterator[tuple[str, dict]]:
    """(fallback id, record) for every JSON object of the unit; unreadable ones are counted in `dropped`."""
    source = unit["source"]
    try:
        if unit["format"] == "json_array":
            with files.open_input(unit["url"]) as handle:
                text = decode_utf8(handle.read())
            if text is None:
                dropped["invalid_utf8"] += 1
                return
            try:
                records = json.loads(text)
            except ValueError:
                dropped["invalid_json"] += 1
                return
            for i, record in enumerate(records if isinstance(records, list) else [records]):
                if isinstance(record, dict):
                    yield f"{source}#{i}", record
                else:
                    dropped["not_an_object"] += 1
            return
        for offset, raw in files.iter_lines(unit["url"], unit["start"], unit["end"]):
            if not raw.strip():
                continue
            line = decode_utf8(raw)
            if line is None:
                dropped["invalid_utf8"] += 1
                continue
            try:
                record = json.loads(line)
            except ValueError:
                dropped["invalid_json"] += 1
                continue
            if not isinstance(record, dict):
                dropped["not_an_object"] += 1
                continue
            yield f"{source}#{offset}", record
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError):
        dropped["truncated_file"] += 1  # keep every record read before the damage


def record_id(record: dict, fallback: str) -> str:
    key = next((k for k in ID_FIELDS if isinstance(record.get(k), (str, int))), None)
    return str(record[key]) if key else fallback


class ChatIngestJob(ShardJob):
    """One job class for both kinds; `fmt` picks the parser and the schema."""

    name = "ingest"

    def __init__(self, sources: list[str], out_url: str, fmt: str, max_chars: int = MAX_RECORD_CHARS):
        if fmt not in ("dialogue", "preference"):
            raise ValueError(f"ChatIngestJob handles dialogue or preference, not {fmt}")
        self.fmt = fmt
        self.kind = "dialogues" if fmt == "dialogue" else "preferences"
        self.schema = DIALOGUES if fmt == "dialogue" else PREFERENCES_EXT
        self.max_chars = max_chars
        inputs = files.expand_inputs(sources)
        units = [u for url, source in inputs for u in plan(url, source)]
        described = [{"url": url, "bytes": files.file_size(url)} for url, _ in inputs]
        super().__init__(out_url, units, {"format": fmt, "max_chars": max_chars}, described)

    def process(self, unit: dict) -> tuple[pa.Table, Stats]:
        dropped: Counter = Counter()
        rows: dict[str, list] = {name: [] for name in self.schema.names}
        seen, chars = 0, []
        for fallback, record in iter_records(unit, dropped):
            seen += 1
            parsed = parse_dialogue(record) if self.fmt == "dialogue" else parse_preference(record)
            if isinstance(parsed, str):
                dropped[parsed] += 1
                continue
            sides = [parsed] if self.fmt == "dialogue" else list(parsed)
            text = "\n".join(m["content"] for side in sides for m in side)
            if len(text) > self.max_chars:
                dropped["too_large"] += 1
                continue
            chars.append(len(text))
            rows["id"].append(record_id(record, fallback))
            for name, side in zip(_COLUMNS[self.fmt], sides):
                rows[name].append(side)
            rows["source"].append(unit["source"])
            rows["lang"].append(record["lang"] if isinstance(record.get("lang"), str) else detect(text))
        table = pa.table(rows, schema=self.schema)
        stats = Stats()
        # Records lost before parsing (bad JSON, truncation) count as input rows too.
        stats.record_stage(self.name, seen + sum(v for k, v in dropped.items() if k in _READ_REASONS),
                           table.num_rows, dropped)
        stats.lang.update(Counter(rows["lang"]))
        stats.add_histogram("length_chars", np.array(chars, dtype=np.int64))  # all contents, newline-joined
        return table, stats


_READ_REASONS = ("invalid_utf8", "invalid_json", "not_an_object", "truncated_file")
_COLUMNS = {"dialogue": ("messages",), "preference": ("prompt", "chosen", "rejected")}
