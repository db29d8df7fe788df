#!/usr/bin/env bash
# NSMC's best measured recipe (docs/benchmarks.md): a word LM on the training reviews'
# text (Kiwi morphemes, LM_SECONDS), then classifiers started from it (--init-from,
# CLASSIFIER_SECONDS each, one per seed), tested on the official test set beside the
# peers. LM_SECONDS + CLASSIFIER_SECONDS is the training time a seed costs (600 s).
#   bash bench/nsmc_recipe.sh [LM_SECONDS] [CLASSIFIER_SECONDS] [SCRATCH_DIR] [-- classifiers.py options]
set -euo pipefail
LM_SECONDS=${1:-180}
CLASSIFIER_SECONDS=${2:-420}
DIR=${3:-$(mktemp -d)}
shift $(( $# < 3 ? $# : 3 ))
[[ ${1:-} == -- ]] && shift
HERE="$(cd "$(dirname "$0")" && pwd)"
DATA="$HERE/../../shared/data/nsmc"
echo "machine: $(uname -m), $(nproc) cpus; scratch $DIR"
tail -n +2 "$DATA/ratings_train.txt" | cut -f2 > "$DIR/reviews.txt"   # the training texts only
rnntool train-lm "$DIR/reviews.txt" --level word --tokenizer kiwi --max-vocab 20000 --emb 128 --hidden 256 \
  --max-time "$LM_SECONDS" --seed 1 -o "$DIR/lm.safetensors" -q --json \
  | python3 -c 'import json,sys; r=json.load(sys.stdin); print("LM: valid ppl", round(r["valid"]["ppl"], 1), "steps", r["steps"])'
# the classifier takes the LM's shape (unidirectional, words only) and classifiers.py's NSMC
# options (batch 64, lr 3e-3: more epochs in the budget than the defaults' 32 and 2e-3, and
# better, docs/benchmarks.md)
python3 "$HERE/classifiers.py" nsmc --budget "$CLASSIFIER_SECONDS" "$@" -- --init-from "$DIR/lm.safetensors"
