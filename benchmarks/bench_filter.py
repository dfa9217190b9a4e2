"""Filter benchmark: documents/s and MB/s on one core for the default filter chain, English and Chinese apart,
against datatrove's Gopher + C4 + FineWeb filters on the same English documents, in the same run.

    python benchmarks/bench_filter.py [--mb 2] [--corpora /work/shared/corpora] [--no-ray]

Corpora (real text, repeated to --mb MB per language):
- en: the 21 English gold pages (tests/data/filters) and the 300 C4 documents of LLaMA-Factory's c4_demo;
- zh: the 16 Chinese news/blog pages (tests/data/filters) and the 1,000 Sohu news texts (tests/data/dedup).
Figures:
- `ours.default`: the whole default chain (text checks, URL, language ID, Gopher repetition and quality, C4, FineWeb,
  Chinese rules, bad words, PII) in this process, one thread; `ours.peer_rules`: only our Gopher repetition + Gopher
  quality + C4 + FineWeb, the same rule families as the peer (words segmented once, shared).
- `datatrove`: GopherRepetitionFilter, GopherQualityFilter, C4QualityFilter(filter_no_terminal_punct=False) and
  FineWebQualityFilter as FineWeb ran them, datatrove 0.10.1 in `.venv-peers` (it needs `xxhash<4`, `regex`, and
  spaCy, which it does not install), run as a subprocess: `in_process` times the filtering only, `end_to_end` the
  subprocess with its imports and spaCy's start-up.
- `zh_time_split`: where the Chinese time goes: the chain's per-stage milliseconds, plus segmentation (rjieba) and
  language ID timed alone on the same documents.
- `ray` (unless --no-ray): `dataprep filter` as a job on a 1-CPU local Ray, English corpus in 4 shards; Ray's start-up
  is reported apart.
Prints one JSON object. The machine is shared: compare ratios from one run, not absolute figures across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
import pyarrow as pa  # noqa: E402

pa.set_cpu_count(1)
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dataprep.dataset.schemas import DOCUMENTS  # noqa: E402
from dataprep.filters import FilterChain, default_config  # noqa: E402
from dataprep.filters.config import parse_config  # noqa: E402

PEERS_PYTHON = ROOT / ".venv-peers" / "bin" / "python"
DATA = ROOT / "tests" / "data"

PEER_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
from datatrove.data import Document
from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                        GopherRepetitionFilter)
rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
filters = [GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(filter_no_terminal_punct=False),
           FineWebQualityFilter()]
warm = [Document(text=rows[0]["text"], id="warm")]  # loads spaCy's English tokenizer once, outside the timing
for f in filters:
    warm = list(f.run(warm))
t1 = time.perf_counter()
docs = (Document(text=r["text"], id=r["id"]) for r in rows)
for f in filters:
    docs = f.run(docs)
kept = sum(1 for _ in docs)
t2 = time.perf_counter()
print(json.dumps({"kept": kept, "filter_s": t2 - t1, "startup_s": t1 - t0}))
"""


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def corpus(lang: str, mb: float, corpora: Path) -> list[dict]:
    if lang == "en":
        base = [{"id": r["id"], "text": r["text"], "url": r["url"]} for r in _jsonl(DATA / "filters" / "en_pages.jsonl")]
        c4 = corpora / "prose" / "llamafactory_c4_demo.jsonl"
        source = c4 if c4.exists() else DATA / "dedup" / "c4_en_head120.jsonl"
        base += [{"id": f"c4-{i}", "text": r["text"], "url": None} for i, r in enumerate(_jsonl(source))]
    else:
        base = [{"id": r["id"], "text": r["text"], "url": None} for r in _jsonl(DATA / "filters" / "zh_pages.jsonl")]
        for i, r in enumerate(_jsonl(DATA / "dedup" / "sohu2021_dd-test_zh_pairs.jsonl")):
            base += [{"id": f"sohu-{i}-1", "text": r["sentence1"], "url": None},
                     {"id": f"sohu-{i}-2", "text": r["sentence2"], "url": None}]
    out, size, copy = [], 0, 0
    while size < mb * 1e6:
        for r in base:
            out.append({**r, "id": f"{r['id']}#{copy}"})
            size += len(r["text"].encode())
        copy += 1
    return out


def table_of(rows: list[dict]) -> pa.Table:
    n = len(rows)
    return pa.table({"id": [r["id"] for r in rows], "text": [r["text"] for r in rows], "source": ["bench"] * n,
                     "url": [r["url"] for r in rows], "lang": [None] * n, "meta": [None] * n}, schema=DOCUMENTS)


def rate(docs: int, mb: float, seconds: float) -> dict:
    return {"docs": docs, "seconds": round(seconds, 3), "docs_per_s": round(docs / seconds, 1),
            "mb_per_s": round(mb / seconds, 3)}


def run_chain(config, table: pa.Table, mb: float) -> dict:
    chain = FilterChain.from_config(config)
    chain.apply(table.slice(0, 64))  # loads the language model, rjieba's dictionary and the word lists
    started = time.perf_counter()
    kept, rejected, stats = chain.apply(table)
    out = rate(table.num_rows, mb, time.perf_counter() - started)
    out["kept"] = kept.num_rows
    out["stage_ms"] = {k.removeprefix("time_ms."): v for k, v in stats.counters.items() if k.startswith("time_ms.")}
    return out


def run_peer(rows: list[dict], mb: float) -> dict:
    if not PEERS_PYTHON.exists():
        return {"error": f"{PEERS_PYTHON} missing: python -m venv .venv-peers && .venv-peers/bin/pip install "
                         "datatrove==0.10.1 'xxhash<4' regex spacy"}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "en.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
        started = time.perf_counter()
        done = subprocess.run([str(PEERS_PYTHON), "-c", PEER_SCRIPT, str(path)], capture_output=True, text=True,
                              env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ""})
        wall = time.perf_counter() - started
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {"in_process": {**rate(len(rows), mb, result["filter_s"]), "kept": result["kept"]},
            "end_to_end": rate(len(rows), mb, wall), "startup_s": round(result["startup_s"], 2)}


def zh_time_split(rows: list[dict], mb: float, chain_result: dict) -> dict:
    import rjieba

    from dataprep.langid import identify

    texts = [r["text"] for r in rows]
    started = time.perf_counter()
    for text in texts:
        rjieba.cut(text)
    segment_s = time.perf_counter() - started
    started = time.perf_counter()
    identify(texts)
    langid_s = time.perf_counter() - started
    total_ms = sum(chain_result["stage_ms"].values())
    return {"segmentation_alone": rate(len(texts), mb, segment_s), "langid_alone": rate(len(texts), mb, langid_s),
            "stage_share": {k: round(v / total_ms, 3) for k, v in sorted(chain_result["stage_ms"].items(),
                                                                          key=lambda kv: -kv[1])}}


def run_ray(rows: list[dict], mb: float) -> dict:
    import ray

    from dataprep.dataset import write_dataset
    from dataprep.distributed.runtime import configure_data_context
    from dataprep.steps import Filter, execute

    started = time.perf_counter()
    ray.init(num_cpus=1, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    configure_data_context()
    ray.data.DataContext.get_current().enable_progress_bars = False
    startup = time.perf_counter() - started
    try:
        with tempfile.TemporaryDirectory() as tmp:
            table = table_of(rows)
            quarter = -(-table.num_rows // 4)
            write_dataset(f"{tmp}/in", "documents", [table.slice(i, quarter) for i in range(0, table.num_rows, quarter)])
            started = time.perf_counter()
            manifest = execute(Filter(input=f"{tmp}/in", output=f"{tmp}/out"), workers=1).manifest
            job = rate(len(rows), mb, time.perf_counter() - started)
    finally:
        ray.shutdown()
    return {"ray_startup_s": round(startup, 2), "job": {**job, "kept": manifest.rows, "shards": len(manifest.shards)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=2.0, help="MB of text per language")
    parser.add_argument("--corpora", type=Path, default=Path("/work/shared/corpora"))
    parser.add_argument("--no-ray", action="store_true", help="skip the end-to-end job on Ray")
    args = parser.parse_args()

    default = default_config()
    peer_rules = parse_config({"filters": ["gopher_repetition", "gopher_quality", "c4", "fineweb"]}, "bench",
                              base=default)
    report: dict = {"machine_cpus": os.cpu_count(), "load_avg": os.getloadavg()[0], "threads": 1}
    for lang in ("en", "zh"):
        rows = corpus(lang, args.mb, args.corpora)
        mb = sum(len(r["text"].encode()) for r in rows) / 1e6
        table = table_of(rows)
        if lang == "zh":  # the peer-rules chain has no language filter: tell it the language as ingest would
            table = table.set_column(4, "lang", pa.array(["zh"] * len(rows)))
        else:
            table = table.set_column(4, "lang", pa.array(["en"] * len(rows)))
        section = {"docs": len(rows), "mb": round(mb, 3), "ours": {"default": run_chain(default, table, mb),
                                                                   "peer_rules": run_chain(peer_rules, table, mb)}}
        if lang == "en":
            section["datatrove"] = run_peer(rows, mb)
            peer = section["datatrove"].get("in_process")
            if peer:
                section["speedup_vs_datatrove"] = {
                    "default_chain": round(section["ours"]["default"]["mb_per_s"] / peer["mb_per_s"], 2),
                    "same_rules": round(section["ours"]["peer_rules"]["mb_per_s"] / peer["mb_per_s"], 2)}
        else:
            section["zh_time_split"] = zh_time_split(rows, mb, section["ours"]["default"])
        report[lang] = section
    if not args.no_ray:
        report["ray"] = run_ray(corpus("en", args.mb, args.corpora), args.mb)
    print(json.dumps(report, ensure_ascii=False))


if __name__ == "__main__":
    main()
