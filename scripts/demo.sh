#!/usr/bin/env bash
# The user's day on the bundled real sample data, on an embedded local Ray, CPU only:
# web (a WARC, Chinese and English HTML pages, JSONL text) -> filter -> dedup -> tokenizer -> token shards;
# dialogues + preference pairs -> token shards with loss masks; stats and plots; pretrain -> SFT -> DPO -> chat.
# The data part is the two pipeline YAMLs a cluster user submits as Ray jobs (jobs/configs/demo*.yaml).
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
# metric RUN KEY [--first]: KEY's value in the run's last (or first) metrics line that has it.
metric() { python -c '
import json, sys
run, key = sys.argv[1], sys.argv[2]
rows = [r for r in map(json.loads, open(run + "/metrics.jsonl")) if key in r]
print("%.4f" % (rows[0] if sys.argv[3:] == ["--first"] else rows[-1])[key])' "$@"; }
# check A OP B MESSAGE: stop the demo (exit 1) when the comparison fails, so CI notices a demo that means nothing.
check() { python -c 'import sys; a, op, b = float(sys.argv[1]), sys.argv[2], float(sys.argv[3]); sys.exit(0 if (a < b if op == "<" else a > b) else 1)' "$1" "$2" "$3" \
  || { echo "demo check failed: $4 ($1 $2 $3 does not hold)" >&2; exit 1; }; }

step "1. web pipeline (one job, jobs/configs/demo.yaml): WARC + HTML + JSONL -> filter -> dedup -> tokenizer -> tokens"
dataprep run jobs/configs/demo.yaml --dry-run
dataprep run jobs/configs/demo.yaml
DOCS=$OUT/web/02-dedup
TOKENIZER=$OUT/web/03-tokenizer/tokenizer.model
TOKENS=$OUT/web/04-tokenize

step "2. dialogue pipeline (one job, jobs/configs/demo_dialogue.yaml): dialogues, preference pairs -> tokens with loss masks"
dataprep run jobs/configs/demo_dialogue.yaml
SFT_TOKENS=$OUT/dialogue/01-tokenize
DPO_TOKENS=$OUT/dialogue/03-tokenize

step "3. stats and plots: what the filters dropped and why, duplicates, languages, lengths"
dataprep stats "$OUT/web/01-filter" --plot "$OUT/filtered.png"
dataprep stats "$DOCS" --plot "$OUT/documents.png" > "$OUT/documents-stats.txt"
dataprep stats "$SFT_TOKENS" --plot "$OUT/dialogue-tokens.png" > "$OUT/dialogue-stats.txt"
echo "(stats of the deduplicated documents and of the dialogue tokens: $OUT/documents-stats.txt, $OUT/dialogue-stats.txt)"

step "4. pretrain a tiny GPT on the web token shards with Ray Train (CPU, fp32)"
training pretrain --data "$TOKENS" -o "$OUT/run" --config training/configs/tiny.yaml

step "5. SFT: fine-tune the pretrained model on the dialogues (loss on assistant turns, packed conversations)"
training sft --data "$SFT_TOKENS" --init "$OUT/run" -o "$OUT/sft" --config training/configs/sft-tiny.yaml
BEFORE=$(metric "$OUT/sft" val_loss --first)
AFTER=$(metric "$OUT/sft" val_loss)
echo "held-out assistant-token loss: pretrained model $BEFORE -> after SFT $AFTER"
check "$AFTER" "<" "$BEFORE" "SFT did not lower the held-out assistant-token loss"

step "6. DPO: preference-tune the SFT model on the hh-rlhf pairs against its frozen reference"
training dpo --data "$DPO_TOKENS" --init "$OUT/sft" -o "$OUT/dpo" --config training/configs/dpo-tiny.yaml
ACC=$(metric "$OUT/dpo" val_reward_accuracy)
echo "held-out reward accuracy (chosen scored above rejected): $ACC, margin $(metric "$OUT/dpo" val_reward_margin)"
check "$ACC" ">" 0.5 "DPO's held-out reward accuracy is not above chance"

step "7. chat with the DPO model: one Chinese and one English prompt"
for PROMPT in "请介绍一下你自己。" "Give three tips for staying healthy."; do
  ANSWER=$(training chat --checkpoint "$OUT/dpo" --prompt "$PROMPT" --max-new-tokens 40 --seed 0)
  echo "user: $PROMPT"
  echo "assistant: $(printf '%s' "$ANSWER" | tr '\n' ' ' | sed 's/^ *//')"
done
echo "(a ~1M-parameter model trained for minutes on a CPU is not fluent: the numbers above are what it learned;"
echo " training/configs/gpt2-124m.yaml on a GPU cluster is the same path at a useful size)"

step "done"
cat <<EOF
demo finished in $((SECONDS - START))s. Everything is in $OUT/:
  web/00-ingest .. 04-tokenize   documents, filtered, deduplicated, tokenizer.model, token shards (manifest.json each)
  dialogue/01-tokenize, 03-tokenize   SFT and DPO token shards with loss masks
  filtered.png documents.png dialogue-tokens.png   plots;  *-stats.txt   stats
  run/ sft/ dpo/   training runs: config.yaml, metrics.jsonl, tensorboard/, checkpoints/
Next:
  training chat --checkpoint $OUT/dpo                       talk to the model
  dataprep run jobs/configs/demo.yaml                        re-run: every finished step is skipped
  tensorboard --logdir $OUT                                  training curves
  ray job submit --working-dir . -- python jobs/prepare_web.py --config jobs/configs/web.yaml   the same on a cluster (README: "A day on a cluster")
EOF
