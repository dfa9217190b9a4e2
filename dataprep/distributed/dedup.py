"""`dataprep dedup` on Ray: exact and MinHash near-duplicate removal as layers of tasks joined by hash shuffles.

Layers (every arrow is an all-to-all shuffle of task outputs into P hash partitions):

  sign (one task per input shard)  -> band keys by key, exact hashes by hash, (node, id) by node
  band / exact (P tasks each)       -> candidate edges: each equal-key group joined to its smallest node (with
                                       --verify, to its smallest (id, node) if similar enough); exact hashes
                                       only for documents with a token
  large-star / small-star (P each)  -> repeated until the edge set stops changing: stars around component minima
  attach (P)                        -> (component, node, id) by component
  choose (P)                        -> keeps the smallest id of each component; removals by output shard;
                                       with --keep-clusters, one `clusters` dataset shard per partition
  write (one task per input shard)  -> output shard i = the surviving rows of input shard i

A node is (input shard << 32 | row), unique by construction; which document survives is decided by `id`
(then node) only, and the components do not depend on partitioning, so the kept ids are the same for any
number of workers, partitions or input shards. P depends on the input only (its shards and rows, never the
workers or cluster, so the `clusters` shards are byte-identical anywhere) and grows with the corpus
(`rows_per_partition`), so each task holds a bounded share of signatures, edges and ids; the driver holds
object references and counters.

The shuffles are plain Ray tasks with `num_returns=P` (each task's output arrives already split by partition)
rather than Ray Data groupbys: a connected-components round then costs milliseconds instead of seconds on small
data, and the partitioning is ours and deterministic. Tasks are pure, so Ray's retry of a task lost with its
worker recomputes the same pieces, and output shards are written atomically with ShardWriter receipts.
"""

from __future__ import annotations

import hashlib
import json
import math
import resource
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray

from dataprep.version import code_version
from dataprep.dataset.manifest import Manifest
from dataprep.dataset.reader import open_dataset, read_shard_file
from dataprep.dataset.schemas import CLUSTERS
from dataprep.dataset.stats import Stats
from dataprep.dataset.lifecycle import OutputTarget
from dataprep.dataset.writer import ShardResult, ShardWriter, build_manifest
from dataprep.dedup import components as cc
from dataprep.dedup import minhash
from dataprep.dedup.features import batch_bounds, compute
from dataprep.dedup.params import DedupParams
from dataprep.distributed.progress import gather
from dataprep.errors import UserError
from dataprep.sources.records import add_document_stats

ROWS_PER_PARTITION = 100_000  # documents per shuffle partition: bounds every task's share of the data
BATCH_ROWS = 4096  # most documents per signature batch inside a shard
BATCH_BYTES = 1 << 20  # text per batch: the per-character work arrays take ~40x this
MAX_ROUNDS = 64
EXACT_REASON, NEAR_REASON = "exact_duplicate", "near_duplicate"
CLUSTERS_STAGE, UNIQUE_REASON = "dedup_clusters", "no_duplicate"


# -- memory accounting: each task reports its own peak RSS ------------------------------------------------
def _status_mb(field_name: str) -> Optional[float]:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


class _Memory:
    """A task's memory: its process's peak RSS, and its working set = peak growth during the task plus the
    bytes of its (already deserialized) inputs. Workers are reused, so the peak mark is reset per task (Linux
    clear_refs); the working set is what must stay flat as the corpus grows."""

    def __init__(self, *inputs):
        try:
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")
        except OSError:
            pass
        self.start = _status_mb("VmRSS") or 0.0
        self.inputs = sum(_nbytes(x) for x in inputs) / 2**20

    def report(self, **info) -> dict:
        peak = _status_mb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return {**info, "peak_mb": peak, "work_mb": max(peak - self.start, 0.0) + self.inputs, "input_mb": self.inputs}


def _nbytes(x) -> int:
    if isinstance(x, dict):
        return sum(_nbytes(v) for v in x.values())
    if isinstance(x, (list, tuple)):
        return sum(_nbytes(v) for v in x)
    return int(getattr(x, "nbytes", 0))


def _nodes(shard: int, rows: np.ndarray) -> np.ndarray:
    return (np.int64(shard) << np.int64(32)) | rows.astype(np.int64)


def _shard_of(nodes: np.ndarray) -> np.ndarray:
    return nodes >> np.int64(32)


def _concat(pieces: list[dict], name: str, dtype=np.int64) -> np.ndarray:
    parts = [p[name] for p in pieces if len(p[name])]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def _concat_ids(pieces: list[dict]) -> pa.Array:
    parts = [p["id"] for p in pieces if len(p["id"])]
    return pa.concat_arrays(parts) if parts else pa.array([], pa.large_string())


def _both_directions(P: int, src: np.ndarray, dst: np.ndarray) -> list[dict]:
    """Edges as large-star input: each edge at both of its ends."""
    a, b = np.concatenate([src, dst]), np.concatenate([dst, src])
    return cc.split(P, cc.partition_of(a, P), src=a, dst=b)


def _at_larger_end(P: int, src: np.ndarray, dst: np.ndarray) -> list[dict]:
    """Edges as small-star input: each edge once, at its larger end."""
    hi, lo = np.maximum(src, dst), np.minimum(src, dst)
    return cc.split(P, cc.partition_of(hi, P), src=hi, dst=lo)


# -- layer 1: signatures -----------------------------------------------------------------------------------
def _sign(url: str, shard: int, params: DedupParams, P: int, info=None, dataset: str = "") -> list:
    mem = _Memory()
    table = read_shard_file(url, columns=["id", "text"], expect=info, dataset=dataset)
    perms = minhash.permutations(params.num_perm, params.seed)
    band_parts: list[list[dict]] = [[] for _ in range(P)]
    exact_parts: list[list[dict]] = [[] for _ in range(P)]
    id_parts: list[list[dict]] = [[] for _ in range(P)]
    empty = 0
    for start, stop in batch_bounds(table.column("text"), BATCH_BYTES, BATCH_ROWS):
        batch = table.slice(start, stop - start)
        f = compute(batch.column("text"), params, perms)
        nodes = _nodes(shard, np.arange(start, start + batch.num_rows))
        ids = batch.column("id").combine_chunks().cast(pa.large_string())
        empty += int((~f.has_shingles).sum())
        # Band rows: one per (document with shingles, band); the key's low bits pick the partition.
        sel = np.flatnonzero(f.has_shingles)
        keys = f.bands[sel].reshape(-1)
        band_nodes = np.repeat(nodes[sel], params.bands)
        columns = {"key": keys, "node": band_nodes}
        if params.verify:
            columns["row"] = np.repeat(np.arange(len(sel)), params.bands)
        pieces = cc.split(P, (keys % np.uint64(P)).astype(np.int64), **columns)
        for p, piece in enumerate(pieces):
            if params.verify:  # each bucket's centre is picked by id, so --verify needs signatures and ids
                row = piece.pop("row")
                piece["sig"] = f.signatures[sel][row]
                piece["id"] = ids.take(pa.array(sel[row]))
            band_parts[p].append(piece)
        by_node = cc.partition_of(nodes, P)
        for p, piece in enumerate(cc.split(P, by_node, node=nodes, order=np.arange(len(nodes)))):
            id_parts[p].append({"node": piece["node"], "id": ids.take(pa.array(piece["order"]))})
        if params.exact:
            # Only documents with a token: all the others normalize to the same empty text, and are not copies
            # of each other ("👍" and "★★★★★" are both kept).
            h = f.exact[sel]
            for p, piece in enumerate(cc.split(P, (h[:, 0] % np.uint64(P)).astype(np.int64),
                                               h1=h[:, 0], h2=h[:, 1], node=nodes[sel], order=sel)):
                exact_parts[p].append({"h1": piece["h1"], "h2": piece["h2"], "node": piece["node"],
                                       "id": ids.take(pa.array(piece.pop("order")))})
    info = mem.report(rows=table.num_rows, empty=empty,
                      bytes=int(pc.sum(pc.binary_length(table.column("text"))).as_py() or 0))
    return [_merge(p) for p in band_parts] + [_merge(p) for p in exact_parts] + [_merge(p) for p in id_parts] + [info]


def _merge(parts: list[dict]) -> dict:
    """One piece from the per-batch pieces of a partition ({} when there were none)."""
    if not parts:
        return {}
    return {name: _concat_ids(parts) if name == "id" else np.concatenate([p[name] for p in parts]) for name in parts[0]}


# -- layer 2: candidate edges ------------------------------------------------------------------------------
def _band(params: DedupParams, P: int, *pieces: dict) -> list:
    mem = _Memory(pieces)
    pieces = [p for p in pieces if p]
    keys = _concat(pieces, "key", np.uint64)
    nodes = _concat(pieces, "node")
    if params.verify:
        # Each member is compared with its bucket's centre = the smallest (id, node), which like the survivor
        # depends on ids, not on where documents sit in the input: the kept ids do not depend on its sharding.
        table = pa.table({"key": keys, "id": _concat_ids(pieces), "node": nodes, "at": np.arange(len(keys))})
        order = table.sort_by([("key", "ascending"), ("id", "ascending"), ("node", "ascending")])
        order = order.column("at").to_numpy()
    else:  # every bucket member is joined to the centre: the centre does not matter
        order = np.lexsort((nodes, keys))
    keys, nodes = keys[order], nodes[order]
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]])) if len(keys) else np.zeros(0, np.int64)
    lengths = np.diff(np.append(starts, len(keys)))
    centre_row = np.repeat(starts, lengths)
    candidates = int((lengths > 1).sum())
    keep = np.ones(len(keys), dtype=bool)
    if params.verify and len(keys):
        sigs = np.concatenate([p["sig"] for p in pieces if len(p["node"])])[order]
        keep = minhash.jaccard(sigs, sigs[centre_row]) >= params.threshold
    src, dst = cc.unique_edges(nodes[keep], nodes[centre_row][keep])
    info = mem.report(candidate_buckets=candidates, edges=int(len(src)))
    return _both_directions(P, src, dst) + [info]


def _exact(P: int, *pieces: dict) -> list:
    mem = _Memory(pieces)
    pieces = [p for p in pieces if p]
    table = pa.table({
        "h1": _concat(pieces, "h1", np.uint64), "h2": _concat(pieces, "h2", np.uint64),
        "id": _concat_ids(pieces), "node": _concat(pieces, "node"),
    })
    table = table.sort_by([("h1", "ascending"), ("h2", "ascending"), ("id", "ascending"), ("node", "ascending")])
    h1, h2 = table.column("h1").to_numpy(), table.column("h2").to_numpy()
    nodes = table.column("node").to_numpy()
    first = np.ones(len(nodes), dtype=bool)
    first[1:] = (h1[1:] != h1[:-1]) | (h2[1:] != h2[:-1])
    rep = nodes[np.maximum.accumulate(np.where(first, np.arange(len(nodes)), 0))] if len(nodes) else nodes
    dup = ~first
    removed = nodes[dup]
    edges = _both_directions(P, removed, rep[dup])
    removals = cc.split(P, _shard_of(removed) % P, node=removed)
    return edges + removals + [mem.report(exact_removed=int(dup.sum()))]


# -- layer 3: connected components -------------------------------------------------------------------------
def _large_star(P: int, *pieces: dict) -> list:
    mem = _Memory(pieces)
    src, dst = cc.unique_edges(_concat(pieces, "src"), _concat(pieces, "dst"))
    once = src > dst  # every undirected edge is here once in this orientation, in exactly one partition
    fp = cc.fingerprint(src[once], dst[once])
    out_src, out_dst = cc.large_star(src, dst)
    return _at_larger_end(P, out_src, out_dst) + [mem.report(fp=fp)]


def _small_star(P: int, *pieces: dict) -> list:
    mem = _Memory(pieces)
    src, dst = cc.unique_edges(_concat(pieces, "src"), _concat(pieces, "dst"))
    fp = cc.fingerprint(src, dst)
    out_src, out_dst = cc.small_star(src, dst)
    return _both_directions(P, out_src, out_dst) + [mem.report(fp=fp)]


# -- layer 4: representatives ------------------------------------------------------------------------------
def _attach(P: int, n_edges: int, *pieces: dict) -> list:
    """Join converged star edges (both directions, at src) with document ids; route rows to their component."""
    mem = _Memory(pieces)
    edge_pieces, id_pieces = pieces[:n_edges], [p for p in pieces[n_edges:] if p]
    src, dst = cc.unique_edges(_concat(edge_pieces, "src"), _concat(edge_pieces, "dst"))
    member = src > dst  # star edges point from each member to its component's smallest node
    nodes = np.concatenate([src[member], np.unique(src[~member])])
    roots = np.concatenate([dst[member], np.unique(src[~member])])
    id_nodes = _concat(id_pieces, "node")
    ids = _concat_ids(id_pieces)
    order = np.argsort(id_nodes)
    where = order[np.searchsorted(id_nodes[order], nodes)] if len(nodes) else np.zeros(0, np.int64)
    parts = cc.split(P, cc.partition_of(roots, P), root=roots, node=nodes, at=np.arange(len(nodes)))
    out = []
    for part in parts:
        out.append({"root": part["root"], "node": part["node"], "id": ids.take(pa.array(where[part.pop("at")]))})
    return out + [mem.report()]


def _choose(P: int, index: int, clusters: Optional[ShardWriter], *pieces: dict) -> list:
    """Keep the smallest id (then node) of each component; list the others for removal, by output shard.

    With `clusters`, also write clusters shard `index`: every member of this partition's components as
    (id, cluster_id = the kept id, kept), sorted by (cluster_id, id). A component lies whole in one partition
    and its kept id does not depend on partitioning, so the union of the shards is the same for any P.
    """
    mem = _Memory(pieces)
    pieces = [p for p in pieces if p]
    table = pa.table({"root": _concat(pieces, "root"), "id": _concat_ids(pieces), "node": _concat(pieces, "node")})
    table = table.sort_by([("root", "ascending"), ("id", "ascending"), ("node", "ascending")])
    roots, nodes = table.column("root").to_numpy(), table.column("node").to_numpy()
    first = np.ones(len(roots), dtype=bool)
    first[1:] = roots[1:] != roots[:-1]
    starts = np.flatnonzero(first)
    sizes = np.diff(np.append(starts, len(roots)))
    removed = nodes[~first]
    written = None
    if clusters is not None:
        result = clusters.completed(index)
        if result is None:
            keeper = np.repeat(starts, sizes)
            ids = table.column("id")
            rows = pa.table({"id": ids, "cluster_id": ids.take(pa.array(keeper)), "kept": pa.array(first)})
            rows = rows.sort_by([("cluster_id", "ascending"), ("id", "ascending"), ("kept", "descending")])
            stats = Stats()
            stats.record_stage(CLUSTERS_STAGE, rows.num_rows, rows.num_rows)
            result = clusters.write(index, rows, stats)
        written = result.to_json()
    histogram = Counter(sizes.tolist())
    removals = cc.split(P, _shard_of(removed) % P, node=removed)
    return removals + [mem.report(clusters=int(len(starts)), sizes=dict(histogram), result=written)]


# -- layer 5: output shards --------------------------------------------------------------------------------
def _write(writer: ShardWriter, url: str, shard: int, P: int, exact: bool, info, dataset: str, *pieces: dict) -> dict:
    mem = _Memory(pieces)
    done = writer.completed(shard)
    if done is not None:
        return mem.report(result=done.to_json())
    exact_pieces, near_pieces = pieces[:P], pieces[P:]
    exact_nodes = _concat(list(exact_pieces), "node")
    near_nodes = _concat(list(near_pieces), "node")
    exact_rows = np.unique(exact_nodes[_shard_of(exact_nodes) == shard] & np.int64(0xFFFFFFFF))
    near_rows = np.unique(near_nodes[_shard_of(near_nodes) == shard] & np.int64(0xFFFFFFFF))
    table = read_shard_file(url, expect=info, dataset=dataset)
    keep = np.ones(table.num_rows, dtype=bool)
    keep[exact_rows] = False
    after_exact = int(keep.sum())
    keep[near_rows] = False
    kept = table.filter(pa.array(keep))
    stats = Stats()
    if exact:
        stats.record_stage("exact_dedup", table.num_rows, after_exact, {EXACT_REASON: table.num_rows - after_exact})
    stats.record_stage("near_dedup", after_exact, kept.num_rows, {NEAR_REASON: after_exact - kept.num_rows})
    add_document_stats(kept, stats)
    result = writer.write(shard, kept, stats)
    return mem.report(result=result.to_json())


# -- the driver --------------------------------------------------------------------------------------------
@dataclass
class DedupSummary:
    manifest: Manifest
    skipped: int
    stats: dict[str, Any]
    memory: dict[str, dict] = field(default_factory=dict)  # per layer: largest task peak RSS / working set (MiB)


class _Launcher:
    """Submits tasks with at most `workers` running at once (None: let Ray fill the cluster)."""

    _remotes: dict = {}

    def __init__(self, workers: Optional[int]):
        self.workers = workers
        self.inflight: list = []

    def __call__(self, fn, num_returns: int, *args):
        if fn not in self._remotes:
            self._remotes[fn] = ray.remote(fn)
        remote = self._remotes[fn].options(num_returns=num_returns, num_cpus=1)
        if self.workers:
            while len(self.inflight) >= self.workers:
                ready, self.inflight = ray.wait(self.inflight, num_returns=1)
        refs = remote.remote(*args)
        refs = refs if isinstance(refs, list) else [refs]
        if self.workers:
            self.inflight.append(refs[-1])
        return refs


def _peak(infos: list[dict]) -> dict:
    """The largest process peak RSS and the largest working set among a layer's tasks, in MiB."""
    return {key: round(max((i.get(key, 0.0) for i in infos), default=0.0), 1) for key in ("peak_mb", "work_mb", "input_mb")}


def run_dedup(
    in_url: str,
    out_url: str,
    params: DedupParams,
    workers: Optional[int] = None,
    keep_clusters: Optional[str] = None,
    rows_per_partition: int = ROWS_PER_PARTITION,
    partitions: Optional[int] = None,
    progress: bool = True,
) -> DedupSummary:
    """Deduplicate the documents dataset at `in_url` into `out_url` (inside a Ray session)."""
    ds = open_dataset(in_url, kind="documents")
    if "text" not in ds.schema.names or "id" not in ds.schema.names:
        raise UserError(f"{in_url} has no id/text columns; dedup needs a documents dataset")
    N = len(ds.shards)
    rows = ds.manifest.rows
    # P depends on the input only (never on workers or the cluster), so the `clusters` shards are the same bytes
    # wherever the job runs: one partition per input shard (at most 64), more as the corpus grows.
    P = partitions or max(1, min(N, 64), math.ceil(rows / max(rows_per_partition, 1)))
    job_key = hashlib.sha256(json.dumps(
        {"job": "dedup", "params": params.to_json(), "input": ds.manifest_sha256(), "version": code_version()},
        sort_keys=True).encode()).hexdigest()
    main = OutputTarget(out_url)
    targets = [main] + ([OutputTarget(keep_clusters, "--keep-clusters")] if keep_clusters else [])
    for t in targets:
        t.check([in_url], others=[o for o in targets if o is not t])
    writer = ShardWriter(out_url, "documents", ds.schema, job_key, compression="zstd")
    launch = _Launcher(workers)
    shard_urls = [ds.shard_url(i) for i in range(N)]
    clusters = None
    if keep_clusters:
        # Shard i holds the components of partition i, so a shard's receipt is valid only for the same P.
        clusters_key = hashlib.sha256(json.dumps({"job": CLUSTERS_STAGE, "dedup": job_key, "partitions": P},
                                                 sort_keys=True).encode()).hexdigest()
        clusters = ShardWriter(keep_clusters, "clusters", CLUSTERS, clusters_key, compression="zstd")
    for t in targets:
        t.begin(job_key)
    try:
        return _dedup_layers(ds, in_url, out_url, params, P, N, rows, writer, clusters, launch, shard_urls, targets,
                             progress)
    finally:
        for t in targets:
            t.release()


def _dedup_layers(ds, in_url, out_url, params, P, N, rows, writer, clusters, launch, shard_urls, targets, progress):
    def gathered(refs, label, last=False):
        return gather(refs, label, enabled=progress, final_line=last)

    clock = _Clock()
    # 1. signatures, band keys, exact hashes, ids: 3P pieces per shard.
    signed = [launch(_sign, 3 * P + 1, url, i, params, P, ds.shards[i], in_url) for i, url in enumerate(shard_urls)]
    sign_info = gathered([s[-1] for s in signed], "dedup: signatures")
    clock.lap("sign")

    # 2. candidate edges from band buckets and exact-hash groups.
    banded = [launch(_band, P + 1, params, P, *[s[p] for s in signed]) for p in range(P)]
    exacted = [launch(_exact, 2 * P + 1, P, *[s[P + p] for s in signed]) for p in range(P)] if params.exact else []
    band_info = gathered([b[-1] for b in banded], "dedup: band buckets")
    exact_info = gathered([e[-1] for e in exacted], "dedup: exact hashes")
    clock.lap("band_exact")

    # 3. connected components: large-star / small-star until neither changes the edge set.
    layer = [[b[p] for b in banded] + [e[p] for e in exacted] for p in range(P)]
    fps, rounds, cc_peaks = [], 0, []
    total_edges = sum(i["edges"] for i in band_info) + sum(i["exact_removed"] for i in exact_info)
    while total_edges:
        ls = [launch(_large_star, P + 1, P, *layer[p]) for p in range(P)]
        ls_info = gathered([t[-1] for t in ls], f"dedup: components round {rounds + 1}")
        fps.append(_sum_fp(ls_info))
        cc_peaks += ls_info
        if len(fps) >= 3 and fps[-1] == fps[-2] == fps[-3]:
            break  # `layer` (the large-star input) is converged: stars around component minima
        ss_input = [[t[p] for t in ls] for p in range(P)]
        ss = [launch(_small_star, P + 1, P, *ss_input[p]) for p in range(P)]
        ss_info = ray.get([t[-1] for t in ss])
        fps.append(_sum_fp(ss_info))
        cc_peaks += ss_info
        layer = [[t[p] for t in ss] for p in range(P)]
        rounds += 1
        if rounds > MAX_ROUNDS:
            raise RuntimeError(f"connected components did not converge in {MAX_ROUNDS} rounds")

    clock.lap("components")
    # 4. one kept document per component.
    if total_edges:
        attached = [launch(_attach, P + 1, P, len(layer[p]), *layer[p], *[s[2 * P + p] for s in signed])
                    for p in range(P)]
        chosen = [launch(_choose, P + 1, P, p, clusters, *[a[p] for a in attached]) for p in range(P)]
        attach_info = gathered([a[-1] for a in attached], "dedup: attach ids")
        choose_info = gathered([c[-1] for c in chosen], "dedup: choose survivors")
    else:
        attach_info, choose_info, chosen = [], [], []  # no duplicates: a clusters dataset without shards
    del signed, banded, layer
    clock.lap("choose")

    # 5. output shards.
    empty = {"node": np.zeros(0, np.int64)}
    written = []
    for i, url in enumerate(shard_urls):
        exact_pieces = [e[P + i % P] for e in exacted] or [empty]
        near_pieces = [c[i % P] for c in chosen] or [empty]
        exact_pieces = (exact_pieces + [empty] * P)[:P]
        written.append(launch(_write, 1, writer, url, i, P, params.exact, ds.shards[i], in_url, *exact_pieces, *near_pieces)[0])
    write_info = gathered(written, "dedup: write shards", last=True)
    clock.lap("write")
    results = [ShardResult.from_json(w["result"]) for w in write_info]

    sizes: Counter = Counter()
    for info in choose_info:
        sizes.update({int(k): v for k, v in info["sizes"].items()})
    merged = Stats.merged(r.stats for r in results)
    exact_removed = sum(s.dropped.get(EXACT_REASON, 0) for s in merged.stages if s.name == "exact_dedup")
    near_removed = sum(s.dropped.get(NEAR_REASON, 0) for s in merged.stages if s.name == "near_dedup")
    dedup_stats = {
        "threshold": params.threshold, "num_perm": params.num_perm, "ngram": params.ngram,
        "bands": params.bands, "rows": params.rows, "exact": params.exact, "verify": params.verify,
        "documents_in": rows, "documents_out": sum(r.info.rows for r in results),
        "exact_removed": exact_removed, "near_removed": near_removed,
        "without_shingles": sum(i["empty"] for i in sign_info),
        "candidate_pairs": fps[0][0] if fps else 0,  # distinct edges (band and exact) before clustering
        "clusters": sum(i["clusters"] for i in choose_info),
        "cluster_sizes": {str(k): sizes[k] for k in sorted(sizes)},
        "cc_rounds": rounds,
    }
    history = Stats.from_json(ds.manifest.stats).stages
    provenance = {
        "job": "dedup", "inputs": [{"url": in_url, "manifest_sha256": ds.manifest_sha256()}],
        "config": params.to_json(), "code_version": code_version(),
    }
    if clusters is not None:  # committed before the documents, so a committed output means a finished job
        targets[1].commit(_clusters_manifest(clusters, [ShardResult.from_json(i["result"]) for i in choose_info],
                                             dedup_stats, {**provenance, "job": CLUSTERS_STAGE, "output": out_url}))
    manifest = targets[0].commit(build_manifest("documents", ds.schema, results, provenance, history=history,
                                                extra_stats={"dedup": dedup_stats}))
    memory = {
        "sign": _peak(sign_info), "band": _peak(band_info), "exact": _peak(exact_info), "components": _peak(cc_peaks),
        "attach": _peak(attach_info), "choose": _peak(choose_info), "write": _peak(write_info),
    }
    skipped = sum(r.skipped for r in results)
    run_info = {"partitions": P, "seconds": clock.laps, "band_edges_per_partition_sum": sum(i["edges"] for i in band_info)}
    return DedupSummary(manifest, skipped, {**dedup_stats, **run_info}, memory)


def _clusters_manifest(writer: ShardWriter, results: list[ShardResult], dedup: dict, provenance: dict) -> Manifest:
    """The `clusters` dataset's manifest, written last: a stage with its rows, and the cluster-size histogram."""
    rows = sum(r.info.rows for r in results)
    stats = Stats()
    stats.record_stage(CLUSTERS_STAGE, dedup["documents_in"], rows, {UNIQUE_REASON: dedup["documents_in"] - rows})
    section = {
        "clusters": dedup["clusters"], "rows": rows, "kept": dedup["clusters"], "removed": rows - dedup["clusters"],
        "exact_removed": dedup["exact_removed"], "near_removed": dedup["near_removed"],
        "cluster_sizes": dedup["cluster_sizes"],  # {members: clusters of that size}
        "largest": max((int(k) for k in dedup["cluster_sizes"]), default=0),
    }
    return build_manifest("clusters", writer.schema, results, provenance, stats=stats,
                          extra_stats={"clusters": section})


class _Clock:
    def __init__(self):
        self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self.last, 3)
        self.last = now


def _sum_fp(infos: list[dict]) -> tuple[int, int]:
    return sum(i["fp"][0] for i in infos), sum(i["fp"][1] for i in infos) % (1 << 64)
