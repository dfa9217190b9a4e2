"""Dedup benchmark: MinHash signature throughput against datasketch and datatrove, then the whole dedup on Ray.

    python benchmarks/bench_dedup.py [--mb 20] [--corpora /work/shared/corpora] [--datatrove-mb 4]

Prints one JSON object. Every number comes from this one run on the same corpus (real zh/en news, prose,
poetry and dialogue text; topped up to --mb with word-shuffled variants and ~10% planted near-duplicates):
- `signatures`: MB/s on one core for our batch signatures (normalize + tokenize + shingle + 128-perm MinHash +
  band keys + exact hash), for datasketch `MinHash.bulk` (128 perms) on the same word/character 5-gram shingles
  (its MB/s counts only the bulk call; building its shingle lists in Python is reported apart), and for
  datatrove's `MinhashDedupSignature` step (16 buckets x 8 hashes, word 5-grams, its default spaCy English
  splitter) run in the separate venv `.venv-peers` on the first --datatrove-mb MB (it needs `xxhash<4`).
- `dedup`: the whole `run_dedup` on a local 2-CPU Ray: docs/s, seconds per layer, and the marginal throughput
  (full - tenth documents) / (t_full - t_tenth), which leaves out the fixed per-job cost; Ray's start-up
  (`ray.init`) is reported apart as `ray_start_seconds`. `marginal_docs_per_cpu_s` is the same with the CPU
  seconds of this Ray session's processes in place of wall time: steadier than wall time on a shared machine.
- `memory`: largest per-task peak RSS and working set per layer for the corpus at 1/10 and full size, with
  partitions growing with the corpus, plus a control with the partition count held at the small run's.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dataprep.dataset import DOCUMENTS, write_dataset  # noqa: E402
from dataprep.dedup import minhash  # noqa: E402
from dataprep.dedup.features import batch_bounds  # noqa: E402
from dataprep.dedup.lsh import band_keys  # noqa: E402
from dataprep.dedup.normalize import normalize_text, tables  # noqa: E402
from dataprep.dedup.params import DedupParams  # noqa: E402
from dataprep.dedup.shingles import document_hashes, shingle_hashes, tokenize  # noqa: E402

PEERS_PYTHON = ROOT / ".venv-peers" / "bin" / "python"


# -- corpus ------------------------------------------------------------------------------------------------
def _strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, list):
        for x in obj:
            yield from _strings(x)
    elif isinstance(obj, dict):
        for x in obj.values():
            yield from _strings(x)


def _chunks(text: str, size: int = 3000) -> list[str]:
    paras, out, cur = re.split(r"\n\s*\n", text), [], ""
    for p in paras:
        cur = f"{cur}\n\n{p}" if cur else p
        if len(cur) >= size:
            out.append(cur)
            cur = ""
    return out + ([cur] if cur.strip() else [])


def real_documents(corpora: Path) -> list[str]:
    docs: list[str] = []
    if (corpora / "prose").exists():
        prose = corpora / "prose"
        docs += [json.loads(line)["text"] for line in open(prose / "llamafactory_c4_demo.jsonl")]
        docs += [line for line in open(prose / "llamafactory_wiki_demo.txt") if line.strip()]
        docs += _chunks(open(prose / "wikitext-2_test.txt").read())
        docs += _chunks(open(prose / "tinyshakespeare_input.txt").read())
        for name in sorted((prose / "chinese_poetry").glob("*.json")):
            docs += _chunks("\n\n".join(_strings(json.load(open(name)))), 1500)
        for name in ("dolma_ccnet_cc_en_head-0091.jsonl.gz", "dolma_ccnet_cc_en_head-0174.jsonl.gz"):
            docs += [json.loads(line)["text"] for line in gzip.open(prose / name, "rt")]
        for line in open(corpora / "neardup" / "sohu2021_dd-test_zh_pairs.jsonl"):
            r = json.loads(line)
            docs += [r["sentence1"], r["sentence2"]]
        for name in ("llamafactory_alpaca_en_demo.json", "llamafactory_alpaca_zh_demo.json"):
            docs += [r["output"] for r in json.load(open(corpora / "dialogue" / name)) if r.get("output")]
    else:  # a user machine without the shared corpora: the copies in tests/data
        data = ROOT / "tests" / "data" / "dedup"
        for name in sorted(data.glob("*.jsonl")):
            for line in open(name):
                r = json.loads(line)
                docs += [r[k] for k in ("text", "sentence1", "sentence2") if k in r]
    return [d for d in docs if d.strip()]


def build_corpus(corpora: Path, mb: float, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    base = real_documents(corpora)
    docs = [(f"r0-{i:06d}", t) for i, t in enumerate(base)]
    size = sum(len(t.encode()) for _, t in docs)
    k = 0
    while size < mb * 1e6:
        k += 1
        for i, text in enumerate(base):
            spaced = " " in text
            parts = text.split() if spaced else list(text)
            if rng.random() < 0.1:  # a near-duplicate: one token changed
                parts[rng.randrange(len(parts))] = "x"
            else:  # a new document with the same vocabulary
                rng.shuffle(parts)
            text = (" " if spaced else "").join(parts)
            docs.append((f"r{k}-{i:06d}", text))
            size += len(text.encode())
            if size >= mb * 1e6:
                break
    return docs


def write_docs(url: str, docs: list[tuple[str, str]], shard_mb: float) -> str:
    """Shards of about `shard_mb` of text each, so per-shard tasks do equal work at any corpus size."""
    tables_, cuts, size = [], [0], 0
    for i, (_, text) in enumerate(docs):
        size += len(text.encode())
        if size >= shard_mb * 1e6:
            cuts.append(i + 1)
            size = 0
    cuts += [len(docs)] if cuts[-1] != len(docs) else []
    for a, b in zip(cuts, cuts[1:]):
        part = docs[a:b]
        n = len(part)
        tables_.append(pa.table({"id": [d[0] for d in part], "text": [d[1] for d in part], "source": ["bench"] * n,
                                 "url": [None] * n, "lang": ["und"] * n, "meta": [None] * n}, schema=DOCUMENTS))
    write_dataset(url, "documents", tables_, schema=DOCUMENTS)
    return url


# -- signatures --------------------------------------------------------------------------------------------
def ours(texts: list[str], params: DedupParams) -> dict:
    tables()  # per-process lookup tables, built once (~0.3 s), not per batch
    perms = minhash.permutations(params.num_perm, params.seed)
    whole = pa.array(texts, pa.large_string())
    arrays = [whole.slice(a, b - a) for a, b in batch_bounds(whole)]
    minhash.signatures(*shingle_hashes(tokenize(arrays[0]), params.ngram), *perms)  # warm-up: caches, page faults
    parts = dict.fromkeys(("tokenize", "shingles", "minhash", "band_keys", "exact_hash"), 0.0)
    start, cpu = time.perf_counter(), time.process_time()
    for arr in arrays:
        t0 = time.perf_counter()
        tokens = tokenize(arr)
        t1 = time.perf_counter()
        shingles, offsets = shingle_hashes(tokens, params.ngram)
        t2 = time.perf_counter()
        sigs = minhash.signatures(shingles, offsets, *perms)
        t3 = time.perf_counter()
        band_keys(sigs, params.bands, params.rows)
        t4 = time.perf_counter()
        document_hashes(tokens)
        t5 = time.perf_counter()
        for name, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            parts[name] += dt
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3),
            "share": {k: round(v / seconds, 3) for k, v in parts.items()}}


def datasketch_bulk(texts: list[str], ngram: int, num_perm: int) -> dict:
    from datasketch import MinHash

    start = time.perf_counter()
    sets = []
    for text in texts:
        words = normalize_text(text).split()
        sets.append([" ".join(words[i : i + ngram]).encode() for i in range(max(len(words) - ngram + 1, 1))]
                    if words else [])
    shingling = time.perf_counter() - start
    MinHash.bulk(sets[:50], num_perm=num_perm)  # warm-up, as for ours
    start, cpu = time.perf_counter(), time.process_time()
    MinHash.bulk(sets, num_perm=num_perm)
    return {"seconds": round(time.perf_counter() - start, 3), "cpu_seconds": round(time.process_time() - cpu, 3),
            "shingling_seconds": round(shingling, 3)}


DATATROVE_SCRIPT = r"""
import json, sys, tempfile, time
from datatrove.data import Document
from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
texts = [json.loads(line)["text"] for line in open(sys.argv[1])]
docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
step = MinhashDedupSignature(output_folder=tempfile.mkdtemp(), config=MinhashConfig(n_grams=5, num_buckets=16, hashes_per_bucket=8))
step.word_tokenizer.word_tokenize("warm up the tokenizer")
start, cpu = time.perf_counter(), time.process_time()
step.run(iter(docs), rank=0, world_size=1)
print(json.dumps({"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu, "docs": len(docs)}))
"""


def datatrove(texts: list[str], mb: float) -> dict:
    if not PEERS_PYTHON.exists():
        return {"available": False, "reason": f"{PEERS_PYTHON} missing; create it: python -m venv .venv-peers && "
                ".venv-peers/bin/pip install datatrove==0.10.1 'xxhash<4' spacy tokenizers regex"}
    subset, size = [], 0
    for t in texts:
        if size >= mb * 1e6:
            break
        subset.append(t)
        size += len(t.encode())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "docs.jsonl"
        path.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in subset))
        script = Path(tmp) / "run.py"
        script.write_text(DATATROVE_SCRIPT)
        proc = subprocess.run([str(PEERS_PYTHON), str(script), str(path)], capture_output=True, text=True,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"available": False, "reason": f"datatrove run failed: {tail}"}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"available": True, "mb": round(size / 1e6, 2), "seconds": round(out["seconds"], 3),
            "mb_per_s_per_core": round(size / 1e6 / out["cpu_seconds"], 2),
            "mb_per_s_wall": round(size / 1e6 / out["seconds"], 2)}


# -- whole dedup on Ray ------------------------------------------------------------------------------------
def session_cpu_seconds() -> float:
    """CPU seconds used so far by this process and every process it started (Ray's raylet, GCS and workers).

    On a shared machine the wall time of a run also counts waiting for other users' processes; the CPU time
    of our own processes much less so. Workers live across runs, so differences between two calls count the
    run between them (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    parent, cpu = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(entry)] = int(fields[1])
        cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    ours, frontier = {os.getpid()}, [os.getpid()]
    while frontier:
        pid = frontier.pop()
        children = [c for c, pp in parent.items() if pp == pid and c not in ours]
        ours.update(children)
        frontier += children
    return sum(cpu.get(pid, 0.0) for pid in ours)


def timed_dedup(run_dedup, src: str, out: str, params, **options):
    """(summary, wall seconds, CPU seconds of this Ray session) of one run."""
    cpu, start = session_cpu_seconds(), time.perf_counter()
    summary = run_dedup(src, out, params, **options)
    return summary, time.perf_counter() - start, session_cpu_seconds() - cpu


def run_ray(docs, tmp: Path, shard_mb: float, memory: bool) -> dict:
    import ray

    from dataprep.distributed.dedup import run_dedup
    from dataprep.distributed.runtime import configure_data_context

    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    configure_data_context()
    ray_start = time.perf_counter() - start
    params = DedupParams()
    try:
        full = write_docs(str(tmp / "full"), docs, shard_mb)
        tenth = write_docs(str(tmp / "tenth"), docs[: len(docs) // 10], shard_mb)
        rpp = max(len(docs) // 40, 1000)  # partitions grow with the corpus: ~4 for a tenth, ~40 in full
        run_dedup(tenth, str(tmp / "warm"), params, rows_per_partition=rpp)  # start workers, first-use allocations
        small, small_seconds, small_cpu = timed_dedup(run_dedup, tenth, str(tmp / "out-tenth"), params,
                                                      rows_per_partition=rpp)
        s, seconds, cpu = timed_dedup(run_dedup, full, str(tmp / "out"), params, rows_per_partition=rpp)
        small_docs = len(docs) // 10
        result = {
            "documents": len(docs), "shards": s.manifest and len(s.manifest.shards), "seconds": round(seconds, 2), "docs_per_s": round(len(docs) / seconds),
            "docs_per_s_per_core": round(len(docs) / seconds / 2), "cores": 2,
            "ray_start_seconds": round(ray_start, 2),
            "cpu_seconds": round(cpu, 2),
            "small": {"documents": small_docs, "seconds": round(small_seconds, 2), "cpu_seconds": round(small_cpu, 2)},
            "marginal_docs_per_s": round((len(docs) - small_docs) / max(seconds - small_seconds, 1e-9)),
            "marginal_docs_per_cpu_s": round((len(docs) - small_docs) / max(cpu - small_cpu, 1e-9)),
            "exact_removed": s.stats["exact_removed"], "near_removed": s.stats["near_removed"],
            "clusters": s.stats["clusters"], "partitions": s.stats["partitions"], "cc_rounds": s.stats["cc_rounds"],
            "layer_seconds": s.stats["seconds"],
        }
        mem = None
        if memory:
            fixed = run_dedup(full, str(tmp / "out-fixed"), params, partitions=small.stats["partitions"])
            mem = {
                "documents": {"tenth": len(docs) // 10, "full": len(docs)},
                "partitions": {"tenth": small.stats["partitions"], "full": s.stats["partitions"],
                               "full_fixed_partitions": fixed.stats["partitions"]},
                "tenth": small.memory, "full": s.memory, "full_fixed_partitions": fixed.memory,
            }
        return {"dedup": result, "memory": mem}
    finally:
        ray.shutdown()


def signatures(texts: list[str], mb: float, params: DedupParams, datatrove_mb: float) -> dict:
    mine = ours(texts, params)
    ds = datasketch_bulk(texts, params.ngram, params.num_perm)
    dt = datatrove(texts, datatrove_mb)
    # Per core = per CPU-second of the measuring process: on a shared machine, wall time also counts waiting.
    ours_mbs = mb / mine["cpu_seconds"]
    ds_mbs = mb / ds["cpu_seconds"]
    return {
        "num_perm": params.num_perm, "ngram": params.ngram,
        "ours_mb_per_s_per_core": round(ours_mbs, 2),
        "ours_mb_per_s_wall": round(mb / mine["seconds"], 2),
        "ours_time_share": mine["share"],
        "datasketch_bulk_mb_per_s_per_core": round(ds_mbs, 2),
        "datasketch_bulk_mb_per_s_wall": round(mb / ds["seconds"], 2),
        "datasketch_python_shingling_mb_per_s": round(mb / ds["shingling_seconds"], 2),
        "datatrove_signature_step": dt,
        "ratio_ours_vs_datasketch_bulk": round(ours_mbs / ds_mbs, 2),
        "ratio_ours_vs_datasketch_with_shingling": round(ours_mbs / (mb / (ds["seconds"] + ds["shingling_seconds"])), 2),
        "ratio_ours_vs_datatrove": round(ours_mbs / dt["mb_per_s_per_core"], 2) if dt.get("available") else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=20.0)
    ap.add_argument("--corpora", default=str(ROOT.parent / "shared" / "corpora"))
    ap.add_argument("--datatrove-mb", type=float, default=4.0)
    ap.add_argument("--shard-mb", type=float, default=1.0)
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--no-signatures", action="store_true", help="only the Ray dedup (for before/after runs)")
    args = ap.parse_args()

    docs = build_corpus(Path(args.corpora), args.mb)
    texts = [t for _, t in docs]
    mb = sum(len(t.encode()) for t in texts) / 1e6
    params = DedupParams()
    out = {"corpus": {"documents": len(docs), "mb": round(mb, 2), "source": args.corpora}}
    if not args.no_signatures:
        out["signatures"] = signatures(texts, mb, params, args.datatrove_mb)
    if not args.no_ray:
        with tempfile.TemporaryDirectory() as tmp:
            out.update(run_ray(docs, Path(tmp), args.shard_mb, not args.no_memory))
        d = out["dedup"]
        d["mb_per_s"] = round(mb / d["seconds"], 2)
        d["marginal_mb_per_s"] = round(d["marginal_docs_per_s"] * mb / len(docs), 2)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
