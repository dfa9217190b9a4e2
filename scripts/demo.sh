#!/usr/bin/env bash
# The whole chain on the bundled real sample data, on an embedded local Ray, CPU only:
# collect -> clean -> dedup -> tokenizer -> token shards (pretraining, dialogues, preferences) -> pretrain -> eval
# -> SFT on dialogues -> DPO on preference pairs -> one chat answer.
set -euo pipefail
OUT=demo-out
rm -rf "$OUT"
mkdir -p "$OUT"
START=$SECONDS
LAST=$SECONDS
step() {
  if [ "$LAST" != "$START" ] || [ "$SECONDS" != "$START" ]; then printf '   (%ss)\n' "$((SECONDS - LAST))"; fi
  LAST=$SECONDS
  printf '\n\033[1m== %s\033[0m\n' "$*"
}
# metric RUN KEY [--first]: KEY from the run's last (or first) metrics line that has it.
metric() { python -c '
import json, sys
run, key = sys.argv[1], sys.argv[2]
rows = [r for r in map(json.loads, open(run + "/metrics.jsonl")) if key in r]
row = rows[0] if sys.argv[3:] == ["--first"] else rows[-1]
print("%.4f (step %d)" % (row[key], row["step"]))' "$@"; }

step "1. pipeline (one job): ingest web text -> exact + MinHash dedup -> sentencepiece tokenizer -> token shards"
dataprep run jobs/configs/demo.yaml -o "$OUT/pipeline"
DOCS=$OUT/pipeline/01-dedup
TOKENIZER=$OUT/pipeline/02-tokenizer/tokenizer.model
TOKENS=$OUT/pipeline/03-tokenize

step "2. stats of the deduplicated documents (bad records, duplicates, languages, lengths)"
dataprep stats "$DOCS" --plot "$OUT/documents.png"

step "3. dialogues and preference pairs -> token shards with loss masks"
dataprep ingest data/demo/dialogue --format dialogue -o "$OUT/dialogues"
dataprep tokenize "$OUT/dialogues" --tokenizer "$TOKENIZER" -o "$OUT/tokens-sft"
dataprep ingest data/demo/preference --format preference -o "$OUT/preferences"
dataprep tokenize "$OUT/preferences" --tokenizer "$TOKENIZER" -o "$OUT/tokens-dpo"
dataprep stats "$OUT/tokens-sft"

step "4. pretrain a tiny GPT on the web token shards with Ray Train (CPU, fp32)"
training pretrain --data "$TOKENS" -o "$OUT/run" --config training/configs/tiny.yaml

step "5. evaluate the last checkpoint on the same shards (in-process, no Ray; the first 20 batches)"
training eval --checkpoint "$OUT/run" --data "$TOKENS" --max-batches 20

step "6. export the cleaned documents"
dataprep export "$DOCS" -o "$OUT/documents.jsonl"

step "7. SFT: fine-tune the pretrained model on the dialogues (loss on assistant turns, packed conversations)"
training sft --data "$OUT/tokens-sft" --init "$OUT/run" -o "$OUT/sft" --config training/configs/sft-tiny.yaml
echo "held-out assistant-token loss: pretrained $(metric "$OUT/sft" val_loss --first) -> after SFT $(metric "$OUT/sft" val_loss)"

step "8. DPO: preference-tune the SFT model on the hh-rlhf pairs against its frozen reference"
training dpo --data "$OUT/tokens-dpo" --init "$OUT/sft" -o "$OUT/dpo" --config training/configs/dpo-tiny.yaml
echo "held-out reward accuracy $(metric "$OUT/dpo" val_reward_accuracy), margin $(metric "$OUT/dpo" val_reward_margin)"

step "9. one chat answer from the DPO checkpoint (training chat --prompt; drop --prompt to talk)"
training chat --checkpoint "$OUT/dpo" --prompt "Give three tips for staying healthy." --max-new-tokens 40
step "done"
echo "demo finished in $((SECONDS - START))s: outputs in $OUT/ (documents.png, run/, sft/, dpo/: metrics.jsonl, checkpoints/)"
