"""Dedup shuffle bytes: capacity.py's per-document figure against what Ray moved between two nodes.

Steps, on this machine: start two Ray nodes (`ray start --head` and `ray start --address`, one CPU each,
tests/cluster_nodes.py); ingest `--copies` copies of the bundled web corpus (data/demo/web; each copy's ids get a
`#copy` suffix) on the cluster; read each node's object-transfer counters from its Prometheus endpoint
(`ray_object_manager_bytes`, Type="Received": the bytes its object manager pulled from the other node); run
`dataprep dedup --address` on the cluster (default scheduling); read the counters again once Ray has reported
them: the difference is the dedup step's transfer. Ray's start-up is timed apart.

The prediction: the first dedup layer (`sign`, one task per input shard) cuts each shard's band, text-hash and
id rows into P partition pieces; piece p is read by partition p's task of the next layer (band, exact, attach).
Placed at random on two nodes, that task is on the other node half of the time, so

    predicted bytes = documents x dedup_shuffle_bytes_per_doc x (1 - 1/nodes)

with dedup_shuffle_bytes_per_doc measured as capacity.py measures it (`shuffle_bytes` of `sign_shard`) on the
run's own shards and P. Ray does not place a few short tasks at random (it packs them onto one node), so
the JSON also gives the prediction for the placement the run had: each kind's bytes times the share of (sign
task, consumer task) pairs on different nodes, from Ray's task records (pieces of one kind are about equal:
hash partitions). What else crosses is the later layers' pieces (candidate edges, connected-components rounds,
ids with their components, removal lists): capacity.py's `--shuffle-passes 2` budgets them as a second crossing.
The texts of plain copies are duplicates, as a crawl's are, so those layers carry an edge per copy;
`--distinct` shuffles the characters of every copy after the first (same lengths, so the same sign rows per
document, but no duplicates), which leaves the sign pieces almost alone in Ray's counters.

Ray's object manager moves only objects in the object store: a task output of at most 100 KiB (Ray's
`max_direct_call_object_size`) goes back to the driver inline and travels inside the next task's arguments,
outside these counters. The sample's pieces are tens of KiB where a snapshot's are MBs, so the cluster runs
with a lower limit (`--inline-limit`, default 4 KiB) to send them the way a snapshot's go. Input shards are
read from the file system by the tasks (on a real cluster: object storage), not through Ray.

    nice -n 10 python benchmarks/shuffle_transfer.py [--copies 4] [--distinct] [--inline-limit 4096]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.capacity import piece_bytes  # noqa: E402
from tests.cluster_nodes import exe, get_json, run, two_nodes  # noqa: E402

WEB = ROOT / "data" / "demo" / "web"
CORPUS = ["c4_demo.jsonl", "wiki_demo.jsonl", "sohu_news_zh.jsonl", "songci_zh.jsonl"]  # not bad_records.jsonl
CONSUMERS = {"bands": "band", "exact": "exact", "ids": "attach"}  # the layer that reads each kind of sign piece
REPORT_MS = 1000  # Ray's metrics_report_interval_ms for the cluster (its default is 10 s)
_SAMPLE = re.compile(r'^ray_object_manager_bytes\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)$', re.M)


def repeated_corpus(folder: Path, copies: int, distinct: bool) -> list[Path]:
    """`copies` JSONL files, each the whole bundled web corpus with ids made unique by a `#copy` suffix. With
    `distinct`, copies after the first have each text's characters shuffled (seeded): the same lengths, hence
    the same sign rows per document, but no longer duplicates of each other."""
    folder.mkdir(parents=True)
    paths = []
    for k in range(copies):
        path = folder / f"copy{k}.jsonl"
        with path.open("w", encoding="utf-8") as out:
            for name in CORPUS:
                for line_no, line in enumerate((WEB / name).read_text(encoding="utf-8").splitlines()):
                    if line.strip():
                        record = json.loads(line)
                        record["id"] = f"{record.get('id') or f'{name}:{line_no}'}#{k}"
                        if distinct and k:
                            text = record["text"]
                            record["text"] = "".join(random.Random(f"{k}:{record['id']}").sample(text, len(text)))
                        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        paths.append(path)
    return paths


def received_bytes(metrics_url: str) -> dict[str, float]:
    """The node's object-manager byte counters by Type (Received, PushedFromLocalPlasma, PushedFromLocalDisk)."""
    with urllib.request.urlopen(metrics_url, timeout=10) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for m in _SAMPLE.finditer(text):
        kind = re.search(r'Type="([^"]+)"', m["labels"])
        if kind:
            out[kind[1]] = out.get(kind[1], 0.0) + float(m["value"])
    return out


def settled_counters(urls: list[str]) -> list[dict[str, float]]:
    """Every node's counters once two reads a few report intervals apart agree (Ray reports them periodically)."""
    last = None
    for _ in range(30):
        now = [received_bytes(u) for u in urls]
        if now == last:
            return now
        last = now
        time.sleep(3 * REPORT_MS / 1000)
    raise RuntimeError(f"Ray's object-manager counters did not settle: {last}")


def predicted(dataset: Path, out: Path, inline_limit: int) -> dict:
    """Sign pieces of the run's own shards (`dataset`), cut into the run's P with the run's parameters (`out`'s
    manifest), as the dedup driver cuts them."""
    from dataprep.dataset.reader import open_dataset, read_shard_file
    from dataprep.dedup.params import DedupParams
    from dataprep.dedup.partitions import partition_count
    from dataprep.dedup.sign import sign_shard
    from dataprep.distributed.dedup import ROWS_PER_PARTITION

    ds = open_dataset(str(dataset), kind="documents")
    partitions = partition_count(len(ds.shards), ds.manifest.rows, ROWS_PER_PARTITION)
    params = DedupParams(**json.loads((out / "manifest.json").read_text())["provenance"]["config"])  # the run's
    by_kind, stored = dict.fromkeys(CONSUMERS, 0), dict.fromkeys(CONSUMERS, 0)
    for i in range(len(ds.shards)):
        signed = sign_shard(read_shard_file(ds.shard_url(i), ["id", "text"]), i, params, partitions)
        for kind in by_kind:
            for piece in getattr(signed, kind):
                size = piece_bytes(piece)
                by_kind[kind] += size
                stored[kind] += size if size > inline_limit else 0
    # the kinds are capacity.py's shuffle_bytes pieces (bands, exact, ids), so their sum is its figure
    return {"shards": len(ds.shards), "partitions": partitions, "documents": ds.manifest.rows,
            "sign_bytes": sum(by_kind.values()), "sign_bytes_by_kind": by_kind, "stored_bytes_by_kind": stored}


def placement(cluster) -> dict[str, list[int]]:
    """Finished tasks of each dedup layer per node ([head, second]), from Ray's task records."""
    nodes = get_json(f"{cluster.dashboard}/api/v0/nodes?detail=1", cluster.token)["data"]["result"]["result"]
    order = sorted((not n.get("is_head_node", False), n["node_id"]) for n in nodes)
    index = {node_id: i for i, (_, node_id) in enumerate(order)}
    tasks = get_json(f"{cluster.dashboard}/api/v0/tasks?detail=1&limit=10000",
                     cluster.token)["data"]["result"]["result"]
    out: dict[str, list[int]] = {}
    for t in tasks:
        if t.get("state") == "FINISHED" and t.get("node_id") in index:
            out.setdefault(t["name"], [0] * len(order))[index[t["node_id"]]] += 1
    return out


def layer_placement(before: dict, after: dict) -> dict[str, list[int]]:
    """Tasks per node that finished between two `placement` reads (the dedup layers, by their task names)."""
    out = {}
    for name, counts in after.items():
        diff = [n - m for n, m in zip(counts, before.get(name, [0] * len(counts)))]
        if any(diff):
            out[name] = diff
    return out


def crossing_share(producers: list[int], consumers: list[int]) -> float:
    """Share of (producer task, consumer task) pairs on different nodes: the share of equal pieces that cross."""
    same = sum(p * c for p, c in zip(producers, consumers))
    total = sum(producers) * sum(consumers)
    return 1 - same / total if total else 0.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--copies", type=int, default=4, help="copies of the bundled web corpus (~2 MB each)")
    p.add_argument("--distinct", action="store_true", help="copies are not duplicates (see repeated_corpus): "
                   "the later dedup layers then carry almost nothing, and the check isolates the sign pieces")
    p.add_argument("--inline-limit", type=int, default=4096,
                   help="the cluster's max_direct_call_object_size in bytes (Ray's default: 102400): outputs up to "
                   "this size travel inline, outside the object manager's counters")
    args = p.parse_args()
    nodes = 2
    started = time.monotonic()
    ray_env = {"RAY_metrics_report_interval_ms": str(REPORT_MS),
               "RAY_max_direct_call_object_size": str(args.inline_limit)}
    with two_nodes(env_extra=ray_env) as cluster:
        corpus = repeated_corpus(cluster.tmp / "corpus", args.copies, args.distinct)
        docs_url, out_url = cluster.tmp / "docs", cluster.tmp / "dedup"
        t0 = time.monotonic()
        run([exe("dataprep"), "ingest", *map(str, corpus), "-o", str(docs_url), "--address", cluster.address],
            cluster.env, timeout=600)
        ingest_s = time.monotonic() - t0
        ingest_tasks = placement(cluster)
        before = settled_counters(cluster.metrics)
        t0 = time.monotonic()
        run([exe("dataprep"), "dedup", str(docs_url), "-o", str(out_url), "--address", cluster.address],
            cluster.env, timeout=600)
        dedup_s = time.monotonic() - t0
        after = settled_counters(cluster.metrics)
        tasks = layer_placement(ingest_tasks, placement(cluster))
        dedup_stats = json.loads((out_url / "manifest.json").read_text())["stats"]["dedup"]
        model = predicted(docs_url, out_url, args.inline_limit)
        start_s = cluster.start_s
    delta = [{k: a.get(k, 0.0) - b.get(k, 0.0) for k in a} for a, b in zip(after, before)]
    received = sum(d.get("Received", 0.0) for d in delta)
    per_doc = model["sign_bytes"] / model["documents"]
    prediction = model["documents"] * per_doc * (1 - 1 / nodes)
    stored = sum(model["stored_bytes_by_kind"].values()) * (1 - 1 / nodes)
    placed = sum(size * crossing_share(tasks.get("sign", [0] * nodes), tasks.get(CONSUMERS[kind], [0] * nodes))
                 for kind, size in model["stored_bytes_by_kind"].items())
    print(json.dumps({
        "documents": model["documents"], "copies": args.copies, "distinct": args.distinct, "shards": model["shards"],
        "partitions": model["partitions"], "inline_limit_bytes": args.inline_limit,
        "dedup_shuffle_bytes_per_doc": round(per_doc, 1), "sign_bytes_by_kind": model["sign_bytes_by_kind"],
        "sign_bytes_in_object_store_by_kind": model["stored_bytes_by_kind"],
        "formula": f"predicted = documents x dedup_shuffle_bytes_per_doc x (1 - 1/{nodes})",
        "predicted_crossing_bytes": round(prediction),
        "predicted_crossing_bytes_object_store_pieces": round(stored),
        "predicted_crossing_bytes_object_store_pieces_actual_placement": round(placed),
        "ray_received_bytes": round(received),
        "ray_received_over_predicted": round(received / prediction, 3) if prediction else None,
        "ray_received_over_predicted_actual_placement": round(received / placed, 3) if placed else None,
        "ray_transfer_by_node": [{k: round(v) for k, v in d.items()} for d in delta],
        "dedup_tasks_per_node": tasks,
        "dedup_found": {k: dedup_stats.get(k) for k in ("documents_in", "documents_out", "exact_removed",
                                                         "near_removed", "candidate_pairs", "cc_rounds")},
        "seconds": {"ray_start": round(start_s, 1), "ingest": round(ingest_s, 1), "dedup": round(dedup_s, 1),
                    "total": round(time.monotonic() - started, 1)},
        "note": "2 one-CPU Ray nodes on one shared 2-core machine; loopback transfers, so only bytes are compared",
    }, indent=1))


if __name__ == "__main__":
    main()
