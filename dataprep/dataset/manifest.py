"""`manifest.json`: the commit point of a dataset folder."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Literal, Optional

import pyarrow as pa
from pydantic import BaseModel, Field

from dataprep.dataset.schemas import SCHEMA_VERSION

MANIFEST_NAME = "manifest.json"


class ShardInfo(BaseModel):
    path: str  # relative to the dataset folder, e.g. shards/part-00000.arrow
    rows: int
    bytes: int
    sha256: str
    tokens: Optional[int] = None


class Manifest(BaseModel):
    kind: Literal["documents", "dialogues", "preferences", "tokens", "clusters"]
    schema_version: int = SCHEMA_VERSION
    arrow_schema: dict[str, Any] = Field(alias="schema")
    shards: list[ShardInfo]
    stats: dict[str, Any] = Field(default_factory=dict)
    provenance: dict[str, Any] = Field(default_factory=dict)

    model_config = {"populate_by_name": True}

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.shards)

    @property
    def bytes(self) -> int:
        return sum(s.bytes for s in self.shards)

    @property
    def tokens(self) -> Optional[int]:
        if self.kind != "tokens":
            return None
        return sum(s.tokens or 0 for s in self.shards)

    def schema(self) -> pa.Schema:  # noqa: D401 - the Arrow schema, rebuilt exactly
        return schema_from_json(self.arrow_schema)

    def to_bytes(self) -> bytes:
        data = self.model_dump(by_alias=True, exclude_none=True)
        return (json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n").encode("utf-8")

    def sha256(self) -> str:
        return hashlib.sha256(self.to_bytes()).hexdigest()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Manifest":
        return cls.model_validate(json.loads(data))


def schema_to_json(schema: pa.Schema) -> dict[str, Any]:
    """A readable field list plus the exact IPC-serialized schema."""
    return {
        "fields": [{"name": f.name, "type": str(f.type)} for f in schema],
        "ipc": base64.b64encode(schema.serialize().to_pybytes()).decode("ascii"),
    }


def schema_from_json(data: dict[str, Any]) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(data["ipc"])))
