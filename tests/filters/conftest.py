"""Fixtures of the filter tests: the committed extracted pages as documents tables, and a network that only reaches
loopback, so a model or list that tried to download would fail the test instead of fetching."""

from __future__ import annotations

import ipaddress
import json
import socket
from pathlib import Path

import pyarrow as pa
import pytest

from dataprep.dataset.schemas import DOCUMENTS
from dataprep.filters.batch import Batch

FIXTURES = Path(__file__).resolve().parent.parent / "data" / "filters"


def read_jsonl(name: str) -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / name).read_text("utf-8").splitlines() if line.strip()]


def documents(rows: list[dict], source: str = "test") -> pa.Table:
    return pa.table({"id": [r["id"] for r in rows], "text": [r["text"] for r in rows], "source": [source] * len(rows),
                     "url": [r.get("url") for r in rows], "lang": [r.get("lang") for r in rows],
                     "meta": [None] * len(rows)}, schema=DOCUMENTS)


def texts_table(texts: list[str], lang: str | list[str] = "en", urls: list | None = None) -> pa.Table:
    """Crafted documents: `lang` set (as ingest or the language filter would have), ids doc-0, doc-1, ..."""
    langs = [lang] * len(texts) if isinstance(lang, str) else lang
    rows = [{"id": f"doc-{i}", "text": t, "lang": code, "url": (urls or [None] * len(texts))[i]}
            for i, (t, code) in enumerate(zip(texts, langs))]
    return documents(rows)


def run(stage, table: pa.Table):
    """One stage on one batch: (reasons, values, thresholds) per row, None where kept."""
    result = stage.apply(Batch(table))
    return list(result.reason), list(result.value), list(result.threshold)


@pytest.fixture(scope="session")
def pages() -> dict[str, pa.Table]:
    return {name: documents(read_jsonl(f"{name}.jsonl"), name)
            for name in ("zh_pages", "en_pages", "cc_2020-34_pages", "classical_zh")}


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Any connection to an address outside 127.0.0.0/8 and ::1 raises (in this process: Ray's own processes, set
    up by the session fixture before any test of this folder runs, are not patched)."""
    original = socket.socket.connect

    def guarded(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            try:
                loopback = ipaddress.ip_address(host).is_loopback
            except ValueError:
                loopback = False  # a host name: resolving it is already leaving the machine
            if not loopback:
                raise OSError(f"test network is loopback-only: refused {address}")
        return original(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket, "getaddrinfo", _refuse_names(socket.getaddrinfo))


def _refuse_names(original):
    def guarded(host, *args, **kwargs):
        if host not in (None, "localhost") and not _is_loopback(host):
            raise OSError(f"test network is loopback-only: refused to resolve {host}")
        return original(host, *args, **kwargs)

    return guarded


def _is_loopback(host) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
