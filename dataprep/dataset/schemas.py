"""Arrow schemas of the record kinds that DESIGN.md fixes. Extra columns are allowed after these.

`clusters` is a fifth kind beyond DESIGN.md's four, on purpose: `dataprep dedup --keep-clusters` writes what
it grouped as a dataset folder, so users inspect it with the same `stats` and `export` tools.
"""

from __future__ import annotations

import pyarrow as pa

KINDS = ("documents", "dialogues", "preferences", "tokens", "clusters")
SCHEMA_VERSION = 1

MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
MESSAGES = pa.list_(MESSAGE)

DOCUMENTS = pa.schema(
    [
        ("id", pa.string()),
        ("text", pa.string()),
        ("source", pa.string()),
        ("url", pa.string()),
        ("lang", pa.string()),
        ("meta", pa.string()),
    ]
)

DIALOGUES = pa.schema(
    [
        ("id", pa.string()),
        ("messages", MESSAGES),
        ("source", pa.string()),
        ("lang", pa.string()),
    ]
)

PREFERENCES = pa.schema(
    [
        ("id", pa.string()),
        ("prompt", MESSAGES),
        ("chosen", MESSAGES),
        ("rejected", MESSAGES),
    ]
)

# One row per member of a duplicate cluster: `cluster_id` is the kept document's id, `kept` marks that row.
CLUSTERS = pa.schema(
    [
        ("id", pa.string()),
        ("cluster_id", pa.string()),
        ("kept", pa.bool_()),
    ]
)


def token_dtype(vocab_size: int) -> pa.DataType:
    """uint16 when every id fits, else uint32."""
    return pa.uint16() if vocab_size <= 1 << 16 else pa.uint32()


def tokens_schema(vocab_size: int, layout: str = "documents") -> pa.Schema:
    """The one token schema, by the kind of dataset that was tokenized (the layout):

    - documents:   id, tokens
    - dialogues:   id, tokens, loss_mask
    - preferences: id, tokens, loss_mask, rejected_tokens, rejected_loss_mask, prompt_tokens
    """
    ids = pa.large_list(token_dtype(vocab_size))
    mask = pa.large_list(pa.uint8())
    fields = [("id", pa.string()), ("tokens", ids)]
    if layout == "dialogues":
        fields.append(("loss_mask", mask))
    elif layout == "preferences":
        fields += [("loss_mask", mask), ("rejected_tokens", ids), ("rejected_loss_mask", mask),
                   ("prompt_tokens", pa.uint32())]
    elif layout != "documents":
        raise ValueError(f"unknown token layout {layout!r}")
    return pa.schema(fields)


BASE_SCHEMAS = {"documents": DOCUMENTS, "dialogues": DIALOGUES, "preferences": PREFERENCES, "clusters": CLUSTERS}


def check_schema(kind: str, schema: pa.Schema) -> None:
    """Raise ValueError when `schema` lacks a required column of `kind` or has it with another type."""
    if kind not in KINDS:
        raise ValueError(f"unknown dataset kind {kind!r}; expected one of {', '.join(KINDS)}")
    if kind == "tokens":
        required = {"id": [pa.string()], "tokens": [pa.large_list(pa.uint16()), pa.large_list(pa.uint32())]}
    else:
        required = {f.name: [f.type] for f in BASE_SCHEMAS[kind]}
    for name, allowed in required.items():
        if name not in schema.names:
            raise ValueError(f"{kind} schema is missing column {name!r}")
        if schema.field(name).type not in allowed:
            raise ValueError(
                f"{kind} column {name!r} has type {schema.field(name).type}, expected {allowed[0]}"
            )
