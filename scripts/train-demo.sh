#!/usr/bin/env bash
# Reproduce models/demo-run from the demo dataset (index-data/demo), end to end from the CLI:
#   features -> labels -> stage 1 (HT baseline) -> stage 2a (dictionary) -> stage 2b (debias)
#   -> evaluation on the test split -> copy of the final model into models/demo-run/.
# Each step's wall time goes to $RUNS/demo-timings.tsv. Settings via environment:
#   CACHE   feature cache folder (default index-data/demo/.cache/features; an existing cache is reused)
#   RUNS    folder of the run folders (default runs; demo-baseline and demo-debias must not exist)
#   MODEL   where the final model is copied (default models/demo-run)
set -euo pipefail
cd "$(dirname "$0")/.."

ROOT=index-data/demo
CACHE=${CACHE:-$ROOT/.cache/features}
RUNS=${RUNS:-runs}
MODEL=${MODEL:-models/demo-run}
CLI=(node bin/recipe-retrieval.js)
STAGE1=$RUNS/demo-baseline
STAGE2=$RUNS/demo-debias
TIMINGS=$RUNS/demo-timings.tsv

mkdir -p "$RUNS"
[ -d dist ] || npx tsc -p .
printf 'step\tseconds\n' > "$TIMINGS"

# Run a step and record its wall time.
step() {
  local name=$1
  shift
  local start ms
  start=$(date +%s%N)
  "$@"
  ms=$((($(date +%s%N) - start) / 1000000))
  printf '%s\t%d.%d\n' "$name" $((ms / 1000)) $((ms % 1000 / 100)) | tee -a "$TIMINGS" >&2
}

# Backbone features: view 0 (centre crop) of val/test, views 0..4 of train (4 augmented crops+flips).
step features-val "${CLI[@]}" features "$ROOT" --split val --cache "$CACHE"
step features-test "${CLI[@]}" features "$ROOT" --split test --cache "$CACHE"
step features-train "${CLI[@]}" features "$ROOT" --split train --views 4 --cache "$CACHE"

# Ingredient labels (git-ignored, rebuilt from the ingredient lines): the 100 most frequent names.
if [ ! -f "$ROOT/ing2label_topk100.pkl" ]; then
  step labels "${CLI[@]}" prepare-labels "$ROOT" --top-k 100
fi

# Stage 1: HT baseline. The cpu preset with smaller widths (scripts/demo-model-config.json) keeps
# the checkpoint under 20 MB; the vocabulary is built from the demo's training text (words seen twice).
# --select rsum: 21 validation pairs make R@1 alone a coin toss (one hit = 4.8%).
step stage1-baseline "${CLI[@]}" train --stage baseline "$ROOT" --out "$STAGE1" --preset cpu \
  --config scripts/demo-model-config.json --build-vocab --min-count 2 --cache "$CACHE" --select rsum

# Stage 2a: ingredient dictionary D from the stage-1 model's line vectors.
step stage2a-dictionary "${CLI[@]}" dictionary --run "$STAGE1" "$ROOT"

# Stage 2b: debiasing, from stage 1's best weights; same optimiser and schedule, restarted.
step stage2b-debias "${CLI[@]}" train --stage debias "$ROOT" --init "$STAGE1" --out "$STAGE2" \
  --cache "$CACHE" --select rsum

# Test split, every pair (N = all): untrained model, stage 1, stage 2 (e_I and ẽ_I), each also
# with the 57 text-only test recipes in the gallery; chance level is in every report.
EVAL=(--split test --n all --with-noimages --cache "$CACHE" --json)
step evaluate-random "${CLI[@]}" evaluate --model "$STAGE2" "$ROOT" "${EVAL[@]}" --random-init > "$RUNS/demo-eval-random.json"
step evaluate-stage1 "${CLI[@]}" evaluate --model "$STAGE1" "$ROOT" "${EVAL[@]}" > "$RUNS/demo-eval-stage1.json"
step evaluate-stage2 "${CLI[@]}" evaluate --model "$STAGE2" "$ROOT" "${EVAL[@]}" > "$RUNS/demo-eval-stage2.json"

# The committed model: best weights, dictionary, vocabulary, labels, and how it was made.
rm -rf "$MODEL/best" "$MODEL/dictionary"
mkdir -p "$MODEL"
cp -r "$STAGE2/best" "$STAGE2/dictionary" "$MODEL/"
cp "$STAGE2/vocab.pkl" "$STAGE2/labels.json" "$STAGE2/run.json" "$STAGE2/metrics.jsonl" "$STAGE2/curves.svg" "$MODEL/"
cp "$STAGE1/metrics.jsonl" "$MODEL/baseline-metrics.jsonl"
cp "$STAGE1/curves.svg" "$MODEL/baseline-curves.svg"
node -e '
  const fs = require("fs");
  const [out, random, stage1, stage2] = process.argv.slice(1);
  const read = (f) => JSON.parse(fs.readFileSync(f, "utf8"));
  fs.writeFileSync(out, JSON.stringify({ randomInit: read(random), stage1: read(stage1), stage2: read(stage2) }, null, 1) + "\n");
' "$MODEL/evaluation.json" "$RUNS/demo-eval-random.json" "$RUNS/demo-eval-stage1.json" "$RUNS/demo-eval-stage2.json"
node dist/scripts/demo-table.js "$RUNS/demo-eval-random.json" "$RUNS/demo-eval-stage1.json" "$RUNS/demo-eval-stage2.json"
du -sh "$MODEL"
cat "$TIMINGS"
