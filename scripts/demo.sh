#!/usr/bin/env bash
# The whole chain on the bundled real sample data, on an embedded local Ray, CPU only:
# collect -> clean -> dedup -> tokenizer -> token shards (pretraining, dialogues, preferences) -> pretrain -> eval.
set -euo pipefail
OUT=demo-out
rm -rf "$OUT"
mkdir -p "$OUT"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

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

step "5. evaluate the last checkpoint on the same shards"
training eval --checkpoint "$OUT/run" --data "$TOKENS"

step "6. export the cleaned documents"
dataprep export "$DOCS" -o "$OUT/documents.jsonl"

echo
echo "demo finished: outputs in $OUT/ (documents.png, run/metrics.jsonl, run/checkpoints/)"
