"""`dataprep ingest`: raw files -> a `documents`, `dialogues` or `preferences` dataset (one shard per work unit).

Planning happens in the driver, before any work: inputs are expanded, each file is probed (unreadable,
mislabelled and binary files are skipped under a reason, or stop the job with `--strict`), its format comes
from `--format` or its suffix (the source table), and the format's `plan` cuts it into units of a size that
depends on the total input only (`sources.units`).
"""

from __future__ import annotations

from typing import Any, Sequence

import pyarrow as pa

from dataprep.dataset.stats import StageCount, Stats
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
        units = group_small_files([(u, f.size, source.groups_files and u.get("end", -1) == -1)
                                   for f, source in planned for u in source.plan(f, params, self.unit_size)],
                                  self.unit_size)
        self.skipped = skipped
        # What came before ingest (a crawl's own stage and stats section), recorded in the manifest's lineage.
        self.prior_stages: list[StageCount] = []
        self.prior_sections: dict[str, Any] = {}
        config = params.model_dump(exclude={"inputs", "output", "strict"})
        described = [files.describe(f.url) for f, _ in planned]
        super().__init__(out_url, units, config, described)

    def process(self, unit: dict) -> tuple[pa.Table, Stats]:
        builder = builder_for(self.kind, self.params.max_chars)
        read = SOURCES[unit["format"]].read
        for part in unit.get("group", [unit]):
            read(part, builder, self.params)
        return builder.finish()

    def unit_label(self, unit: dict) -> str:
        if "group" in unit:
            return f"{unit['group'][0]['source']} .. {unit['group'][-1]['source']} ({len(unit['group'])} files)"
        where = f" bytes {unit['start']:,}-{unit['end']:,}" if unit.get("end", -1) > 0 else ""
        return f"{unit['source']}{where}"

    def unit_bytes(self, unit: dict) -> int:
        if "group" in unit:
            return sum(self.unit_bytes(part) for part in unit["group"])
        if unit.get("end", -1) > 0:
            return unit["end"] - unit["start"]
        return next((i["bytes"] or 0 for i in self.inputs if i["url"] == unit["url"]), 0)

    def job_stats(self) -> Stats:
        return self.skipped

    def history(self) -> list[StageCount]:
        return self.prior_stages

    def extra_stats(self) -> dict[str, Any]:
        return self.prior_sections


def group_small_files(units: list[tuple[dict, int, bool]], unit_bytes: int) -> list[dict]:
    """Whole-file units of one format (one document per file: HTML pages, text files) grouped, in order, into
    units of about `unit_bytes`: a folder of 100,000 small pages is not 100,000 tasks and shards.
    `units`: (unit, its file's size, whether it may be grouped)."""
    out: list[dict] = []
    group: list[dict] = []
    size = 0

    def flush() -> None:
        if len(group) == 1:
            out.append(group[0])
        elif group:
            out.append({"format": group[0]["format"], "group": list(group)})
        group.clear()

    for unit, nbytes, groupable in units:
        if not groupable:
            flush()
            out.append(unit)
            continue
        if group and (unit["format"] != group[0]["format"] or size + nbytes > unit_bytes):
            flush()
        if not group:
            size = 0
        group.append(unit)
        size += nbytes
    flush()
    return out
