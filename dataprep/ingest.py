"""`dataprep ingest`: raw files -> a `documents`, `dialogues` or `preferences` dataset (one shard per work unit).

Planning happens in the driver, before any work: inputs are expanded, each file is probed (unreadable,
mislabelled and binary files are skipped under a reason, or stop the job with `--strict`), its format comes
from `--format` or its suffix (the source table), and the format's `plan` cuts it into units of a size that
depends on the total input only (`sources.units`).
"""

from __future__ import annotations

from typing import Any, Sequence

import pyarrow as pa

from dataprep.dataset.stats import Stats
from dataprep.errors import UserError
from dataprep.shardjob import ShardJob
from dataprep.sources import files
from dataprep.sources.chat_builder import SCHEMAS as CHAT_SCHEMAS, ChatBuilder
from dataprep.sources.records import DocumentBuilder
from dataprep.dataset.schemas import DOCUMENTS
from dataprep.sources.table import SOURCES, guess_format
from dataprep.sources.units import unit_bytes as unit_bytes_for


def builder_for(kind: str, max_chars: int):
    if kind == "documents":
        return DocumentBuilder("ingest", max_chars)
    return ChatBuilder(kind, "ingest", max_chars)


class IngestJob(ShardJob):
    name = "ingest"

    def __init__(self, params, out_url: str, exclude: Sequence[str] = ()):
        """`params`: the ingest step's parameters (`dataprep.steps.ingest.Ingest`, or any object with its fields)."""
        # A plain copy of the parameters travels to the workers (the step object also holds this job).
        self.params = params = type(params).model_validate(params.model_dump())
        found = files.expand_inputs(params.inputs, exclude=[out_url, *exclude])
        skipped = Stats()
        planned: list[tuple[files.InputFile, Any]] = []
        kinds = set()
        for url, name in found:
            fmt = params.format or guess_format(url)
            if fmt is None:
                raise UserError(f"cannot guess the format of {name}; pass --format ({'|'.join(SOURCES)})")
            source = SOURCES[fmt]
            probed = files.probe(url, name, magic=source.magic, text=source.text)
            if isinstance(probed, tuple):
                reason, detail = probed
                if params.strict:
                    raise UserError(f"{reason.replace('_', ' ')}: {detail} (--strict stops at the first bad file)")
                skipped.skip_file(reason, detail)
                continue
            kinds.add(source.kind)
            planned.append((probed, source))
        if len(kinds) > 1:
            raise UserError(f"the inputs mix record kinds ({', '.join(sorted(kinds))}); ingest each kind on its own")
        self.kind = kinds.pop() if kinds else (SOURCES[params.format].kind if params.format else "documents")
        self.schema = DOCUMENTS if self.kind == "documents" else CHAT_SCHEMAS[self.kind]
        self.unit_size = unit_bytes_for(sum(f.size for f, _ in planned))
        units = [u for f, source in planned for u in source.plan(f, params, self.unit_size)]
        self.skipped = skipped
        config = params.model_dump(exclude={"inputs", "output", "strict"})
        described = [files.describe(f.url) for f, _ in planned]
        super().__init__(out_url, units, config, described)

    def process(self, unit: dict) -> tuple[pa.Table, Stats]:
        builder = builder_for(self.kind, self.params.max_chars)
        SOURCES[unit["format"]].read(unit, builder, self.params)
        return builder.finish()

    def unit_label(self, unit: dict) -> str:
        where = f" bytes {unit['start']:,}-{unit['end']:,}" if unit.get("end", -1) > 0 else ""
        return f"{unit['source']}{where}"

    def unit_bytes(self, unit: dict) -> int:
        if unit.get("end", -1) > 0:
            return unit["end"] - unit["start"]
        return next((i["bytes"] or 0 for i in self.inputs if i["url"] == unit["url"]), 0)

    def job_stats(self) -> Stats:
        return self.skipped
