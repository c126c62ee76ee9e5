#!/usr/bin/env bash
# Leave one seed out: each four-run ensemble of five seeds' runs, ranked by the mean
# probability and by its own reranker (`mapo rerank` on the training split), both
# decoded over the whole dev file with beam 5.
#
# Usage: bash benchmarks/rerank_leave_one_out.sh [SEEDS_DIR] [OUT]
#   SEEDS_DIR holds seed-1 ... seed-5 (`make bench-seeds`); default
#   out/wtq-seeds-minilm-used-mp. Results go to OUT/loo-<left-out seed> (default out);
#   a finished step is not run again.
set -euo pipefail
SEEDS_DIR=${1:-out/wtq-seeds-minilm-used-mp}
OUT=${2:-out}
MAPO=${MAPO:-.venv/bin/mapo}
export MAPO_CACHE=${MAPO_CACHE:-$PWD/out/cache}
for left in 1 2 3 4 5; do
  runs=$(for s in 1 2 3 4 5; do if [ "$s" != "$left" ]; then echo "$SEEDS_DIR/seed-$s"; fi; done)
  dir=$OUT/loo-$left
  mkdir -p "$dir"
  # shellcheck disable=SC2086  # $runs is a list of run directories
  {
    test -f "$dir/reranker.json" || $MAPO rerank $runs "$OUT/wtq/random-split-1-train.jsonl" \
      --out "$dir/reranker.json" --json > "$dir/fit.json"
    test -s "$dir/dev-mean.json" || $MAPO decode $runs "$OUT/wtq/random-split-1-dev.jsonl" \
      --beam 5 --json > "$dir/dev-mean.json"
    test -s "$dir/dev-rerank.json" || $MAPO decode $runs "$OUT/wtq/random-split-1-dev.jsonl" \
      --beam 5 --json --reranker "$dir/reranker.json" > "$dir/dev-rerank.json"
  }
  echo "without seed $left: $(jq .correct "$dir/dev-mean.json") by the mean probability," \
    "$(jq .correct "$dir/dev-rerank.json") by the reranker"
done
