"""`dataprep ingest --format dialogue|preference`: JSON records -> a `dialogues` or `preferences` dataset.

Inputs are JSON Lines or JSON arrays (see `sources.json_records`). Every record that cannot be read or validated
is counted under a reason and skipped.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa

from dataprep.dataset.schemas import DIALOGUES, PREFERENCES
from dataprep.dataset.stats import Stats
from dataprep.langid import detect
from dataprep.shardjob import ShardJob
from dataprep.sources import files, json_records
from dataprep.sources.dialogue import parse_dialogue
from dataprep.sources.preference import parse_preference

# Preferences keep where they came from and their language too (extra columns are allowed).
PREFERENCES_EXT = pa.schema(list(PREFERENCES) + [pa.field("source", pa.string()), pa.field("lang", pa.string())])
ID_FIELDS = ("id", "conversation_id", "uuid")
MAX_RECORD_CHARS = 1_000_000


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
        units = [u for url, source in inputs for u in json_records.plan(url, source, fmt)]
        described = [files.describe(url) for url, _ in inputs]
        super().__init__(out_url, units, {"format": fmt, "max_chars": max_chars}, described)

    def process(self, unit: dict) -> tuple[pa.Table, Stats]:
        unread: Counter = Counter()  # records lost before parsing: bad JSON, truncation, oversize lines
        dropped: Counter = Counter()
        rows: dict[str, list] = {name: [] for name in self.schema.names}
        seen, chars = 0, []
        for fallback, record in json_records.iter_records(unit, unread, self.max_chars):
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
        # Records lost before parsing count as input rows too.
        stats.record_stage(self.name, seen + sum(unread.values()), table.num_rows, dropped + unread)
        stats.lang.update(Counter(rows["lang"]))
        stats.add_histogram("length_chars", np.array(chars, dtype=np.int64))  # all contents, newline-joined
        return table, stats


_COLUMNS = {"dialogue": ("messages",), "preference": ("prompt", "chosen", "rejected")}
