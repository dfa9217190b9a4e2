"""Capacity on paper: nodes x hours to prepare one Common Crawl snapshot, from this project's own per-core rates.

Measured here, in this process (one core, no Ray), by the same functions the Ray tasks run, on the bundled
real data (data/demo) at two sizes (the second twice the first, so that a rate that is not per-document
constant shows up as a difference between the two):
- extraction: WARC responses -> documents (warc source: record parsing, charset, main-text extraction, language id);
- filters: the shipped filter chain (language, Gopher, C4, FineWeb, Chinese, bad words, PII);
- dedup signatures: the first dedup layer (shingles, MinHash, LSH band keys, exact hashes, routing) and the bytes
  of the rows it hands to the shuffle per document (the band, text-hash and id pieces);
- tokenization: sentencepiece encoding of documents (a 6,000-piece model trained here on the same texts).

The model: every stage runs over every node's cores one after the other (a pipeline job runs its steps in
order); a stage takes the longer of its compute time and its network time. Network: reading the WARC bytes
from object storage (extraction) and the dedup shuffle (each document's rows cross the network about once
per shuffle layer, `--shuffle-passes`). Survival between stages (documents per page, filter and dedup keep
rates) are the flags' values, defaulting to what the bundled sample gives; the sample is small and not Common
Crawl, so the lead should treat them as assumptions, and re-measure the rates on a quiet machine.
benchmarks/shuffle_transfer.py checks the dedup shuffle bytes against Ray's transfer counters on 2 nodes.

    nice python benchmarks/capacity.py [--nodes 100] [--cores-per-node 64] [--network-gbps 25]
        [--pages 3e9] [--warc-tb 100] [--filter-keep F] [--dedup-keep F] [--repeat 2]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

DEMO = ROOT / "data" / "demo"


def timed(fn, repeat: int):
    """(best seconds of `repeat` runs, the last result)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def extract(paths: list[Path]) -> tuple[int, int, pa.Table]:
    """(WARC responses seen, WARC bytes, documents) for the WARC files, read as an ingest task reads a unit."""
    from dataprep.sources import files, warc
    from dataprep.sources.records import DocumentBuilder
    from dataprep.web.page import WebOptions

    options, builder, size = WebOptions(), DocumentBuilder(), 0
    for path in paths:
        size += path.stat().st_size
        for unit in warc.plan(files.InputFile(str(path), path.name, path.stat().st_size), options, 1 << 40):
            warc.read(unit, builder, options)
    table, _ = builder.finish()
    responses = table.num_rows + sum(n for reason, n in builder.dropped.items()
                                     if reason not in ("warc_request", "warc_metadata", "warcinfo"))
    return responses, size, table


def documents() -> pa.Table:
    """The bundled JSONL web text as one documents table (id, text, lang, ...), read by the jsonl source."""
    from dataprep.sources import files, jsonl
    from dataprep.sources.records import DocumentBuilder

    builder, options = DocumentBuilder(), jsonl.RecordOptions()
    for path in sorted((DEMO / "web").glob("*.jsonl")):
        for unit in jsonl.plan(files.InputFile(str(path), path.name, path.stat().st_size), options, 1 << 40):
            jsonl.read(unit, builder, options)
    table, _ = builder.finish()
    return table


def train_tokenizer(texts: list[str]):
    import sentencepiece as spm

    from dataprep.tokenizer.model import from_bytes
    from dataprep.tokenizer.train import canonical_model, trainer_options, training_sentences

    sink = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=training_sentences(texts), model_writer=sink,
                                   **trainer_options(6000, "bpe", 0.9995, 1))
    return from_bytes(canonical_model(sink.getvalue()), "capacity-benchmark")


def piece_bytes(piece) -> int:
    return sum(col.nbytes for col in piece.values())


def shuffle_bytes(signed) -> int:
    """The bytes of a signed shard's band, text-hash and id pieces: what the sign task hands to the shuffle."""
    return sum(piece_bytes(piece) for pieces in (signed.bands, signed.exact, signed.ids) for piece in pieces)


def measure(repeat: int) -> dict:
    from dataprep.dedup.params import DedupParams
    from dataprep.dedup.sign import sign_shard
    from dataprep.filters import FilterChain
    from dataprep.filters.config import load_filter_config
    from dataprep.tokenizer.encode import encode_documents

    warcs = sorted((DEMO / "warc").glob("*.warc.gz"))
    docs = documents()
    half = docs.slice(0, docs.num_rows // 2)
    chain = FilterChain.from_config(load_filter_config(None, None))
    params = DedupParams(threshold=0.8, num_perm=128, ngram=5)
    tok = train_tokenizer(docs.column("text").to_pylist())
    sizes = {}
    # untimed warm-up: lazy model loads (language id), the extraction child, first-call allocations
    extract(warcs[:1]), chain.apply(half.slice(0, 200)), sign_shard(half.slice(0, 200), 0, params, 8)
    for label, files_, table in (("small", warcs[:1] * 1, half), ("large", warcs[:1] * 2, docs)):
        t_extract, (responses, warc_bytes, extracted) = timed(lambda: extract(files_), repeat)
        t_filter, result = timed(lambda: chain.apply(table), repeat)
        kept = result.kept
        t_sign, signed = timed(lambda: sign_shard(table, 0, params, 8), repeat)
        texts = table.column("text").to_pylist()
        t_tok, (offsets, _, _) = timed(lambda: encode_documents(tok, texts, threads=1), repeat)
        sizes[label] = {
            "warc_responses": responses, "warc_bytes": warc_bytes, "documents": table.num_rows,
            "text_bytes": int(sum(len(t.encode()) for t in texts)),
            "extract_pages_per_s": responses / t_extract,
            "extract_docs_per_page": extracted.num_rows / responses,
            "filter_docs_per_s": table.num_rows / t_filter,
            "filter_keep": kept.num_rows / table.num_rows,
            "dedup_sign_docs_per_s": table.num_rows / t_sign,
            "dedup_shuffle_bytes_per_doc": shuffle_bytes(signed) / table.num_rows,
            "tokenize_docs_per_s": table.num_rows / t_tok,
            "tokens_per_doc": float(offsets[-1]) / table.num_rows,
        }
    return sizes


def sig(x: float) -> float:
    return float(f"{x:.3g}")


def model(rates: dict, args) -> dict:
    """Hours of each stage on the cluster, node-hours, and the stage that bounds the whole."""
    cores = args.nodes * args.cores_per_node
    link = args.nodes * args.network_gbps * 1e9 / 8  # bytes/s into and out of the cluster's nodes together
    docs = args.pages * (args.docs_per_page if args.docs_per_page is not None else rates["extract_docs_per_page"])
    kept = docs * (args.filter_keep if args.filter_keep is not None else rates["filter_keep"])
    unique = kept * args.dedup_keep
    stages = {
        "extract": (args.pages / rates["extract_pages_per_s"] / cores, args.warc_tb * 1e12 / link),
        "filter": (docs / rates["filter_docs_per_s"] / cores, 0.0),
        "dedup": (kept / rates["dedup_sign_docs_per_s"] / cores,
                  kept * rates["dedup_shuffle_bytes_per_doc"] * args.shuffle_passes / link),
        "tokenize": (unique / rates["tokenize_docs_per_s"] / cores, 0.0),
    }
    out = {}
    for name, (compute_s, network_s) in stages.items():
        hours = max(compute_s, network_s) / 3600
        out[name] = {"hours": sig(hours), "node_hours": sig(hours * args.nodes),
                     "bound_by": "network" if network_s > compute_s else "cpu"}
    total = sum(s["hours"] for s in out.values())
    bounding = max(out, key=lambda k: out[k]["hours"])
    return {"stages": out, "hours": sig(total), "node_hours": sig(total * args.nodes),
            "bounding_stage": f"{bounding} ({out[bounding]['bound_by']})",
            "documents": {"extracted": sig(docs), "after_filter": sig(kept), "after_dedup": sig(unique)}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=100)
    p.add_argument("--cores-per-node", type=int, default=64)
    p.add_argument("--network-gbps", type=float, default=25.0, help="per node")
    p.add_argument("--pages", type=float, default=3e9, help="WARC responses in the snapshot")
    p.add_argument("--warc-tb", type=float, default=100.0, help="compressed WARC bytes of the snapshot")
    p.add_argument("--docs-per-page", type=float, default=None, help="default: the sample's extraction yield")
    p.add_argument("--filter-keep", type=float, default=None, help="default: the sample's filter keep rate")
    p.add_argument("--dedup-keep", type=float, default=0.6, help="share surviving dedup (a Common Crawl snapshot "
                   "is far more duplicated than the bundled sample)")
    p.add_argument("--shuffle-passes", type=float, default=2.0, help="network crossings of each document's dedup "
                   "rows (band rows to candidates, then the id/component layers)")
    p.add_argument("--repeat", type=int, default=2, help="best of N timings per stage")
    args = p.parse_args()
    sizes = measure(args.repeat)
    rates = sizes["large"]
    consistency = {k: round(sizes["large"][k] / sizes["small"][k], 2)
                   for k in ("extract_pages_per_s", "filter_docs_per_s", "dedup_sign_docs_per_s", "tokenize_docs_per_s",
                             "dedup_shuffle_bytes_per_doc")}
    print(json.dumps({
        "per_core": {k: {m: (round(v, 3) if isinstance(v, float) else v) for m, v in s.items()}
                     for k, s in sizes.items()},
        "large_over_small": consistency,
        "cluster": {"nodes": args.nodes, "cores_per_node": args.cores_per_node, "network_gbps": args.network_gbps,
                    "pages": args.pages, "warc_tb": args.warc_tb},
        "common_crawl_snapshot": model(rates, args),
        "note": "rates from one core of a shared 2-core machine: re-measure on a quiet machine",
    }, indent=1))


if __name__ == "__main__":
    main()
