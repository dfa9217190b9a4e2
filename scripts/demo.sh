#!/usr/bin/env bash
# The whole chain on the bundled real sample data, on an embedded local Ray, CPU only.
set -euo pipefail
OUT=${DEMO_OUT:-demo-out}
rm -rf "$OUT"
mkdir -p "$OUT"
export RAY_DEDUP_LOGS=0

echo "== 1. ingest: web text (English C4 + Wikipedia, Chinese news + Song ci, one file of bad records)"
dataprep ingest data/demo/web -o "$OUT/docs"

echo "== 2. stats of the ingested documents"
dataprep stats "$OUT/docs" --plot "$OUT/docs.png"

echo "demo finished: outputs in $OUT/"
