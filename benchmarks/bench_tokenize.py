"""Tokenization speed: raw sentencepiece vs the `dataprep tokenize` pipeline, same text, same model, one run.

Prints one JSON object:
- raw_mb_s: `SentencePieceProcessor.encode(list_of_texts)` on one thread (MB of UTF-8 per second);
- pipeline_mb_s_per_core: `dataprep tokenize` (operations.tokenize: read zstd shards, encode, build the
  large_list arrays, stats, write and hash uncompressed shards, commit the manifest) divided by the number of
  concurrent tasks (one CPU, one sentencepiece thread each), timed inside a started Ray session;
- ratio = pipeline per core / raw (target >= 0.85).
- end_to_end: the user's path on one big JSONL file: `dataprep ingest FILE` (its work units, hence the token
  shards' parallelism, come from the unit-size rule) then `dataprep tokenize` run as a command with 2 workers,
  timed whole at two input sizes; its marginal MB/s (start-up excluded, reported apart) against
  `SentencePieceProcessor.encode(texts, num_threads=2)` on the same text and model (target >= 0.85).
  `--before PATH` also times a checkout of older code (e.g. a `git worktree` of an earlier commit) the same way.
Both are timed `--repeat` times, interleaved, and the best of each is reported (the machine may be shared);
`load_average_1m` says how busy it was.

    python benchmarks/bench_tokenize.py [--mb 24] [--vocab 8000] [--model-type bpe] [--workers 1] [--shards 8]
        [--repeat 3] [--e2e-mb 40] [--before PATH]
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


def write_jsonl(path: Path, texts: list[str], target_mb: float) -> list[str]:
    """One JSONL file of about `target_mb` MB of text (the corpus repeated), as a user would bring it."""
    docs, size = [], 0
    with open(path, "w", encoding="utf-8") as handle:
        while size < target_mb * 1e6:
            for text in texts:
                handle.write(json.dumps({"id": f"d{len(docs)}", "text": text}, ensure_ascii=False) + "\n")
                docs.append(text)
                size += len(text.encode("utf-8"))
    return docs


def measure_end_to_end(tmp: Path, texts: list[str], model: str, args) -> dict:
    """`dataprep tokenize` as a command on what `dataprep ingest` made of one big JSONL, vs raw encode, 2 threads."""
    import sentencepiece as spm

    from benchmarks.marginal import marginal, time_cli

    sizes = {"small": args.e2e_mb / 4, "big": args.e2e_mb}
    docs = {name: write_jsonl(tmp / f"{name}.jsonl", texts, mb) for name, mb in sizes.items()}
    text_mb = {name: sum(len(t.encode("utf-8")) for t in d) / 1e6 for name, d in docs.items()}
    sp = spm.SentencePieceProcessor(model_file=model)
    trees = {"after": str(ROOT)} | ({"before": args.before} if args.before else {})
    timings: dict = {tree: {"small": [], "big": []} for tree in trees}
    raw = []
    for tree, path in trees.items():
        for name in sizes:
            time_cli(["ingest", tmp / f"{name}.jsonl", "-o", tmp / f"e2e-{tree}-{name}-docs"], path)
    for r in range(args.repeat):  # interleaved: the machine may be shared
        start = time.perf_counter()
        sp.encode(docs["big"], num_threads=2)
        raw.append(text_mb["big"] / (time.perf_counter() - start))
        for tree, path in trees.items():
            for name in sizes:
                out = tmp / f"e2e-{tree}-{name}-tokens-{r}"
                timings[tree][name].append(time_cli(["tokenize", tmp / f"e2e-{tree}-{name}-docs", "--tokenizer",
                                                     model, "-o", out, "--workers", "2"], path))
    raw_mb_s = max(raw)
    result: dict = {"text_mb": {k: round(v, 2) for k, v in text_mb.items()}, "raw_mb_s_2_threads": round(raw_mb_s, 3)}
    for tree in trees:
        t_small, t_big = min(timings[tree]["small"]), min(timings[tree]["big"])
        m = marginal(text_mb["small"], t_small, text_mb["big"], t_big)
        shards = json.loads((tmp / f"e2e-{tree}-big-docs" / "manifest.json").read_text())["shards"]
        result[tree] = {
            "seconds": {"small": round(t_small, 2), "big": round(t_big, 2)},
            "marginal_mb_s": round(m["rate"], 3),
            "startup_s": round(m["startup_s"], 2) if m["startup_s"] is not None else None,
            "ratio_to_raw_2_threads": round(m["rate"] / raw_mb_s, 3),
            "document_shards": len(shards),
            "rows_per_shard": [s["rows"] for s in shards],
        }
    result["target_ratio"] = 0.85
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=24.0)
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--model-type", default="bpe")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved timings of each; the best is reported")
    parser.add_argument("--e2e-mb", type=float, default=40.0, help="the big JSONL file of the end-to-end timing")
    parser.add_argument("--before", help="a checkout of older code to time end to end the same way")
    args = parser.parse_args()

    import ray
    import sentencepiece as spm

    from dataprep.distributed.runtime import configure_data_context
    from dataprep.steps import Tokenize, execute
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
        manifest = execute(Tokenize(input=docs_url, tokenizer=model, output=out), args.workers).manifest
        seconds = time.perf_counter() - start
        return seconds, sum(t - before.get(pid, 0.0) for pid, t in tree_cpu_seconds().items()), manifest

    execute(Tokenize(input=docs_url, tokenizer=model, output=str(tmp / "warmup")), args.workers)  # workers up
    raws, pipes = [], []
    for r in range(args.repeat):  # interleaved, best of each: the machine may be shared
        raws.append(raw())
        pipes.append(pipeline(str(tmp / f"tokens-{r}")))
    ray.shutdown()

    end_to_end = measure_end_to_end(tmp, texts, model, args)
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
        "end_to_end": end_to_end,
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }))
    assert manifest.tokens == raw_tokens + len(docs), "pipeline and raw disagree on the token count"


if __name__ == "__main__":
    main()
