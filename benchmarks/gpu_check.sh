#!/usr/bin/env bash
# GPU end-to-end check of `training` on ONE H100/H200: bf16 + torch.compile + fused AdamW, tokens/s, MFU, data_wait,
# peak memory against training.memory's estimate, then kill -9 and resume with `deterministic: true`, expected
# bit-exact. Under 5 minutes; QUICK=1 in about 2 (fewer steps), so a failed first run can be rerun.
#   cd REPO && bash benchmarks/gpu_check.sh [WORKDIR]        (OUT=DIR: copies summary.txt and metrics there)
# The GPU machine has CUDA torch but no Ray: training.loop.train_func runs in this process under a minimal stub of
# ray.train (world size 1), on a token dataset written directly. Needs numpy, pyarrow, safetensors, pyyaml,
# pydantic, fsspec, typer, rich, tensorboard, zstandard. CPU dry run of the logic: DRY=1 bash benchmarks/gpu_check.sh
set -uo pipefail
W=${1:-/tmp/gpu_check}; rm -rf "$W"; mkdir -p "$W"; H=$W/helper.py; PY=${PYTHON:-python3}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
if [ "${DRY:-0}" = 1 ]; then M=tiny S=64 B=4 N=20 C=10 G=false K=false T=300000 DN=12 DC=6
elif [ "${QUICK:-0}" = 1 ]; then M=gpt2-124m S=1024 B=16 N=80 C=40 G=true K=true T=4000000 DN=20 DC=10
else M=gpt2-124m S=1024 B=16 N=300 C=150 G=true K=true T=12000000 DN=40 DC=20; fi
cat > "$H" <<'PY'
import contextlib, json, os, shutil, sys, types
import numpy as np
cmd, a = sys.argv[1], sys.argv[2:]
if cmd == "env":
    import torch
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    print("torch", torch.__version__, "cuda", torch.version.cuda, "gpu", gpu)
    gpu or os.environ.get("DRY") == "1" or sys.exit("FAIL: torch sees no CUDA device")
    for m in ("pydantic", "zstandard", "pyarrow", "safetensors", "yaml", "fsspec", "typer", "rich"):
        __import__(m)
elif cmd == "data":  # GPT-2-sized vocabulary; 4096 recurring 24-token phrases, so the loss visibly falls
    import pyarrow as pa
    from dataprep.dataset import tokens_schema, write_dataset
    V, eos, rng = 50257, 50256, np.random.default_rng(0)
    phrases = rng.zipf(1.3, size=(4096, 24)) % (V - 1)
    ends = np.cumsum(rng.integers(4, 41, size=int(a[1]) // (22 * 24))) * 24
    flat = np.insert(phrases[rng.integers(0, 4096, ends[-1] // 24)].ravel().astype(np.uint16), ends, eos)
    offsets, schema = np.concatenate([[0], ends + np.arange(1, len(ends) + 1)]).astype(np.int64), tokens_schema(V)
    table = pa.table({"id": pa.array([f"d{i}" for i in range(len(ends))]),
                      "tokens": pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(flat))}, schema=schema)
    write_dataset(a[0], "tokens", [table], schema=schema, compression=None,
                  provenance={"tokenizer": {"sha256": "0" * 64, "vocab_size": V, "eos_id": eos, "pad_id": None}})
    print(f"dataset: {flat.size:,} tokens, {len(ends):,} documents")
elif cmd == "stub":  # training.loop.train_func in this process; args: RUN key=value...
    import torch
    run, over = a[0], a[1:]

    class Checkpoint:
        def __init__(self, path, filesystem=None):
            self.path = path
        from_directory = classmethod(lambda cls, p: cls(p))
        as_directory = contextlib.contextmanager(lambda self: (yield self.path))

    def report(metrics, checkpoint=None, checkpoint_dir_name=None):
        if checkpoint is not None:  # persisted as Ray Train does: copied, then made visible by one rename
            dst = os.path.join(run, "checkpoints", checkpoint_dir_name)
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(checkpoint.path, dst + ".part")
            os.replace(dst + ".part", dst)

    dev = torch.device("cuda", 0) if "use_gpu=true" in over else torch.device("cpu")
    ray, rt, rtt = (types.ModuleType(n) for n in ("ray", "ray.train", "ray.train.torch"))
    ray.train, rt.torch, rt.report, rt.Checkpoint = rt, rtt, report, Checkpoint
    rt.get_context = lambda: types.SimpleNamespace(get_world_rank=lambda: 0, get_world_size=lambda: 1,
                                                   get_local_world_size=lambda: 1)
    rt.get_checkpoint = lambda: None  # the loop falls back to the run folder's newest intact checkpoint
    rtt.get_device, rtt.prepare_model = (lambda: dev), (lambda m: m.to(dev))
    sys.modules.update({"ray": ray, "ray.train": rt, "ray.train.torch": rtt})
    from dataprep.dataset import open_dataset
    from training.config import build_config
    from training.loop import train_func
    from training.memory import estimate, gib
    from training.shards import tokenizer_info
    cfg = build_config(None, None, over)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    train_func({"config": cfg.model_dump(), "run_dir": os.path.abspath(run), "cpus_per_worker": 1,
                "tokenizer_sha256": tokenizer_info(open_dataset(cfg.data, kind="tokens")).sha256})
    if dev.type == "cuda":
        from training.model import model_config, padded_vocab
        est = estimate(cfg, model_config(cfg.model, padded_vocab(50257, cfg.vocab_multiple), cfg.seq_len), "cuda", 1)
        peak = torch.cuda.max_memory_allocated()
        print(f"peak GPU memory {gib(peak)} (max_memory_allocated); estimate {gib(est.total)} "
              f"({est.total / peak:.2f}x): {est.describe()}")
elif cmd == "summary":  # args: RUN FIRST_STEP (earlier intervals hold the compile)
    from training.metrics import read_metrics
    ms = [m for m in read_metrics(a[0]) if m.get("step", 0) >= int(a[1]) and "loss" in m]
    med = lambda k: float(np.median([m[k] for m in ms if m.get(k) is not None] or [np.nan]))
    ev = [json.loads(l) for l in open(os.path.join(a[0], "events.jsonl"))]
    start = next(e for e in ev if e["event"] == "start")
    comp = [round(e["seconds"], 1) for e in ev if e["event"] == "compiled"]
    print(f"  {a[0]}: tokens/s {med('tokens_per_s'):,.0f}  MFU {med('mfu'):.1%} (peak {start.get('peak')})  "
          f"data_wait {med('data_wait'):.2%}  loss {ms[0]['loss']:.3f} -> {ms[-1]['loss']:.3f}  compile s {comp}")
elif cmd == "compare":  # args: RUN_A RUN_B LAST_STEP_DIR
    from safetensors.torch import load_file
    from training.metrics import read_metrics
    la, lb = ({m["step"]: m["loss"] for m in read_metrics(r) if "loss" in m} for r in a[:2])
    common = sorted(set(la) & set(lb))
    dl = max(abs(la[s] - lb[s]) for s in common)
    wa, wb = (load_file(f"{r}/checkpoints/{a[2]}/model.safetensors") for r in a[:2])
    dw = max((wa[k].double() - wb[k].double()).abs().max().item() for k in wa)
    ev = [e["event"] + "@" + str(e["step"]) for e in map(json.loads, open(f"{a[1]}/events.jsonl")) if "step" in e]
    print(f"  {a[1]} vs {a[0]}: events {ev}, {len(common)} steps, max|dloss| {dl:.3g}, max|dweight| {dw:.3g}"
          f" -> {'BIT-EXACT' if dl == 0 == dw else 'not bit-exact'}")
elif cmd == "attention":  # SDPA backends for the model's attention, and flex attention compiled for packed rows
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from training.model import GPT, model_config
    for size in ("gpt2-124m", "350m"):
        c = model_config(size, 50304, 1024)
        m = GPT(type(c)(**{**c.to_dict(), "n_layer": 2})).cuda()
        x = torch.randint(0, 50257, (4, 1024), device="cuda")
        doc = torch.arange(4096, device="cuda").view(4, 1024) // 300  # packed documents of 300 tokens
        for name, kw in (("causal", {}), ("doc-mask", {"doc_ids": doc})):
            ok = []
            for be in (SDPBackend.FLASH_ATTENTION, SDPBackend.CUDNN_ATTENTION, SDPBackend.EFFICIENT_ATTENTION):
                with contextlib.suppress(RuntimeError), sdpa_kernel(be), torch.autocast("cuda", torch.bfloat16):
                    m(x, **kw).float().mean().backward()
                    ok.append(be.name)
            print(f"  {size:9s} {name:8s} SDPA backends: {ok}")
        m.flex_attention = True
        with torch.autocast("cuda", torch.bfloat16):
            flex = torch.compile(m)(x, doc_ids=doc)
            m.flex_attention = False
            ref = m(x, doc_ids=doc)
        print(f"  {size:9s} flex (compiled) vs SDPA mask: max|dlogit| {(flex - ref).abs().max().item():.3g}")
PY
log() { echo "$*" | tee -a "$W/summary.txt"; }
$PY "$H" env 2>&1 | tee -a "$W/summary.txt"; [ "${PIPESTATUS[0]}" = 0 ] || { log "FAIL: packages or CUDA"; exit 1; }
$PY "$H" data "$W/ds" $T 2>&1 | tee -a "$W/summary.txt"; [ "${PIPESTATUS[0]}" = 0 ] || exit 1
SET=(model=$M seq_len=$S batch_size=$B grad_accum=1 lr=0.0006 warmup_steps=20 eval_batches=2 report_every=50
     num_workers=1 use_gpu=$G dtype=auto max_failures=0 keep_checkpoints=2 val_fraction=0.01 data=$W/ds)
set -m  # each background job is its own process group: kill -9 -PGID takes the run down
launch() {  # RUN STEPS CKPT COMPILE LOG_EVERY DETERMINISTIC
  ${TMO:+timeout $TMO} $PY "$H" stub "$1" "${SET[@]}" steps=$2 checkpoint_every=$3 eval_every=$3 compile=$4 \
    log_every=$5 deterministic=$6
}
kill_resume() {  # launch's args: start, SIGKILL once the mid-run checkpoint is complete, then run again (resumes)
  local mid; mid=$(printf 'step-%08d' "$3")
  TMO= launch "$@" > "$1.killed.log" 2>&1 & local pid=$!
  for _ in $(seq 1 1500); do [ -f "$1/checkpoints/$mid/state.json" ] && break; sleep 0.2; done
  kill -9 -- -$pid 2>/dev/null; wait $pid 2>/dev/null
  TMO=150 launch "$@" > "$1.resume.log" 2>&1 || log "FAIL: resume of $1 (see $1.resume.log)"
}
compare() { $PY "$H" compare "$1" "$2" "$(printf 'step-%08d' $3)" 2>&1 | tail -1 | tee -a "$W/summary.txt"; }
log "== 1. $M, bf16, compile=$K, B=$B x T=$S, $N steps (the first step compiles, timed apart)"
TMO=200 launch "$W/ref" $N $C $K 10 false > "$W/ref.log" 2>&1 || { log "FAIL: reference run:"; tail -25 "$W/ref.log"; exit 1; }
{ grep -h "peak GPU" "$W/ref.log"; $PY "$H" summary "$W/ref" 20; } | tee -a "$W/summary.txt"
log "== 2. deterministic: true (eager): kill -9 after step $DC, resume; expect BIT-EXACT against an unbroken run"
TMO=120 launch "$W/det" $DN $DC false 1 true > "$W/det.log" 2>&1 || log "FAIL: deterministic run (see $W/det.log)"
kill_resume "$W/detkr" $DN $DC false 1 true; compare "$W/det" "$W/detkr" $DN
[ "$G" = true ] && log "== 3. attention paths (bf16, fwd+bwd, 2 layers)" &&
  timeout 120 $PY "$H" attention 2>&1 | grep -E "SDPA|flex" | tee -a "$W/summary.txt"
log "logs: $W/*.log"
if [ -n "${OUT:-}" ]; then cp "$W/summary.txt" "$OUT/"; cp "$W/ref/metrics.jsonl" "$OUT/ref-metrics.jsonl"; fi
