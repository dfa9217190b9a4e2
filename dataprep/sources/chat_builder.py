"""Validating dialogue and preference records into `dialogues` / `preferences` rows, rejected ones by reason."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa

from dataprep.dataset.schemas import DIALOGUES, PREFERENCES
from dataprep.dataset.stats import Stats
from dataprep.langid import detect
from dataprep.sources.builder import RecordBuilder

# Preferences keep where they came from and their language too (extra columns are allowed).
PREFERENCES_EXT = pa.schema(list(PREFERENCES) + [pa.field("source", pa.string()), pa.field("lang", pa.string())])
SCHEMAS = {"dialogues": DIALOGUES, "preferences": PREFERENCES_EXT}
COLUMNS = {"dialogues": ("messages",), "preferences": ("prompt", "chosen", "rejected")}
ID_FIELDS = ("id", "conversation_id", "uuid")
MAX_RECORD_CHARS = 1_000_000


def record_id(record: dict, fallback: str) -> str:
    key = next((k for k in ID_FIELDS if isinstance(record.get(k), (str, int))), None)
    return str(record[key]) if key else fallback


class ChatBuilder(RecordBuilder):
    """One builder for both kinds: a dialogue is one messages list, a preference three (prompt, chosen, rejected)."""

    def __init__(self, kind: str, stage: str = "ingest", max_chars: int = MAX_RECORD_CHARS):
        super().__init__(stage, max_chars)
        self.kind = kind
        self.schema = SCHEMAS[kind]
        self.rows: dict[str, list] = {name: [] for name in self.schema.names}
        self.chars: list[int] = []

    def add(self, record: dict, fallback_id: str, source: str, parsed) -> None:
        """`parsed`: the messages (or the three sides) from the format's parser, or its rejection reason."""
        self.seen += 1
        if isinstance(parsed, str):
            self.dropped[parsed] += 1
            return
        sides = [parsed] if self.kind == "dialogues" else list(parsed)
        text = "\n".join(m["content"] for side in sides for m in side)
        if len(text) > self.max_chars:
            self.dropped["too_large"] += 1
            return
        self.chars.append(len(text))
        self.rows["id"].append(record_id(record, fallback_id))
        for name, side in zip(COLUMNS[self.kind], sides):
            self.rows[name].append(side)
        self.rows["source"].append(source)
        self.rows["lang"].append(record["lang"] if isinstance(record.get("lang"), str) else detect(text))
        self.kept += 1

    def finish(self) -> tuple[pa.Table, Stats]:
        table = pa.table(self.rows, schema=self.schema)
        stats = self._stats(table.num_rows)
        stats.lang.update(Counter(self.rows["lang"]))
        stats.add_histogram("length_chars", np.array(self.chars, dtype=np.int64))  # all contents, newline-joined
        return table, stats
