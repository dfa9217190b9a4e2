"""Tokenization speed: raw sentencepiece vs the `dataprep tokenize` pipeline, same text, same model, one run.

Prints one JSON object:
- raw_mb_s: `SentencePieceProcessor.encode(list_of_texts)` on one thread (MB of UTF-8 per second);
- pipeline_mb_s_per_core: `dataprep tokenize` (operations.tokenize: read zstd shards, encode, build the
  large_list arrays, stats, write and hash uncompressed shards, commit the manifest) divided by the number of
  concurrent tasks (one CPU, one sentencepiece thread each), timed inside a started Ray session;
- ratio = pipeline per core / raw (target >= 0.85).
Both are timed `--repeat` times, interleaved, and the best of each is reported (the machine may be shared);
`load_average_1m` says how busy it was.

    python benchmarks/bench_tokenize.py [--mb 24] [--vocab 8000] [--model-type bpe] [--workers 1] [--shards 8] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared" / "corpora" / "prose"


def corpus_texts() -> list[str]:
    """English and Chinese prose documents: the shared corpora when present, else the bundled test pieces."""
    texts: list[str] = []
    if SHARED.exists():
        texts += [l for l in (SHARED / "llamafactory_wiki_demo.txt").read_text().splitlines() if l.strip()]
        texts += [json.loads(l)["text"] for l in (SHARED / "llamafactory_c4_demo.jsonl").read_text().splitlines()]
        shakespeare = (SHARED / "tinyshakespeare_input.txt").read_text()
        texts += [b for b in shakespeare.split("\n\n") if b.strip()]
        guwen = json.loads((SHARED / "chinese_poetry" / "guwenguanzhi.json").read_text())
        texts += ["\n".join(ch["paragraphs"]) for vol in guwen["content"] for ch in vol["content"]]
        songci = json.loads((SHARED / "chinese_poetry" / "songci_300.json").read_text())
        texts += ["\n".join(p["paragraphs"]) for p in songci]
    else:
        data = ROOT / "tests" / "data" / "tokenizer"
        for name in ("c4_en_head80.jsonl", "guwenguanzhi_zh_head40.jsonl"):
            texts += [json.loads(l)["text"] for l in (data / name).read_text().splitlines()]
    return texts


def build_documents(url: str, texts: list[str], target_mb: float, shards: int) -> tuple[list[str], int]:
    """Repeat the corpus up to `target_mb` and write it as a documents dataset of `shards` zstd shards."""
    from dataprep.dataset import DOCUMENTS, write_dataset

    docs, size = [], 0
    while size < target_mb * 1e6:
        for text in texts:
            docs.append(text)
            size += len(text.encode("utf-8"))
    per = -(-len(docs) // shards)
    tables = []
    for s in range(shards):
        part = docs[s * per:(s + 1) * per]
        n = len(part)
        tables.append(pa.table({
            "id": [f"doc-{s}-{i}" for i in range(n)], "text": part, "source": ["bench"] * n,
            "url": pa.nulls(n, pa.string()), "lang": ["und"] * n, "meta": pa.nulls(n, pa.string()),
        }, schema=DOCUMENTS))
    write_dataset(url, "documents", tables, schema=DOCUMENTS)
    return docs, size


def tree_cpu_seconds() -> dict[int, float]:
    """CPU seconds (user + system) of this process and all its descendants (the embedded Ray), by pid."""
    import psutil

    me = psutil.Process()
    out = {}
    for proc in [me, *me.children(recursive=True)]:
        try:
            times = proc.cpu_times()
            out[proc.pid] = times.user + times.system
        except psutil.Error:
            pass
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=24.0)
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--model-type", default="bpe")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved timings of each; the best is reported")
    args = parser.parse_args()

    import ray
    import sentencepiece as spm

    from dataprep import operations
    from dataprep.distributed.runtime import configure_data_context
    from dataprep.tokenizer.train import train_tokenizer

    tmp = Path(tempfile.mkdtemp(prefix="bench_tokenize_"))
    docs_url = str(tmp / "docs")
    texts = corpus_texts()
    docs, size = build_documents(docs_url, texts, args.mb, args.shards)
    info = train_tokenizer([docs_url], str(tmp / "tok"), args.vocab, args.model_type, sample_bytes=4_000_000,
                           threads=os.cpu_count())
    model = str(tmp / "tok.model")

    # Ray first, so both measurements run under the same conditions (an idle embedded Ray in the background).
    ray.init(num_cpus=args.workers, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    configure_data_context()
    ray.data.DataContext.get_current().enable_progress_bars = False

    # Raw: the library call on the same list of texts, one thread.
    sp = spm.SentencePieceProcessor(model_file=model)
    sp.encode(docs[:200], num_threads=1)

    def raw() -> tuple[float, float, int]:
        start, cpu = time.perf_counter(), time.process_time()
        ids = sp.encode(docs, num_threads=1)
        return time.perf_counter() - start, time.process_time() - cpu, sum(map(len, ids))

    # Pipeline: the tokenize operation on the started Ray (start-up is not tokenization).
    def pipeline(out: str):
        before = tree_cpu_seconds()
        start = time.perf_counter()
        manifest, _ = operations.tokenize(docs_url, model, out, workers=args.workers)
        seconds = time.perf_counter() - start
        return seconds, sum(t - before.get(pid, 0.0) for pid, t in tree_cpu_seconds().items()), manifest

    operations.tokenize(docs_url, model, str(tmp / "warmup"), workers=args.workers)  # workers up, model cached
    raws, pipes = [], []
    for r in range(args.repeat):  # interleaved, best of each: the machine may be shared
        raws.append(raw())
        pipes.append(pipeline(str(tmp / f"tokens-{r}")))
    ray.shutdown()

    mb = size / 1e6
    raw_s, raw_cpu, raw_tokens = min(raws)
    pipe_s, _, manifest = min(pipes, key=lambda p: p[0])
    pipe_cpu = min(p[1] for p in pipes)
    raw_mb_s = mb / raw_s
    per_core = mb / pipe_s / args.workers
    print(json.dumps({
        "text_mb": round(mb, 2),
        "documents": len(docs),
        "model_type": args.model_type,
        "vocab_size": info["vocab_size"],
        "tokens": manifest.tokens,
        "repeats": args.repeat,
        "raw_mb_s": round(raw_mb_s, 3),
        "pipeline_mb_s": round(mb / pipe_s, 3),
        "workers": args.workers,
        "pipeline_mb_s_per_core": round(per_core, 3),
        "ratio": round(per_core / raw_mb_s, 3),
        "target_ratio": 0.85,
        "raw_mb_s_runs": [round(mb / r[0], 2) for r in raws],
        "pipeline_mb_s_per_core_runs": [round(mb / p[0] / args.workers, 2) for p in pipes],
        # CPU-time view (less sensitive to other load): MB per CPU-second of the raw call, and of the pipeline
        # counting every process of the embedded Ray (driver, GCS, raylet, workers) during the run.
        "raw_mb_per_cpu_s": round(mb / raw_cpu, 3),
        "pipeline_mb_per_cpu_s": round(mb / pipe_cpu, 3),
        "cpu_ratio": round(raw_cpu / pipe_cpu, 3),
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }))
    assert manifest.tokens == raw_tokens + len(docs), "pipeline and raw disagree on the token count"


if __name__ == "__main__":
    main()
