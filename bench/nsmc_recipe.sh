#!/usr/bin/env bash
# NSMC's best measured recipe (docs/benchmarks.md): a word LM on the training reviews'
# text (Kiwi morphemes, LM_SECONDS), then classifiers started from it (--init-from,
# CLASSIFIER_SECONDS each, one per seed), tested on the official test set beside the
# peers. LM_SECONDS + CLASSIFIER_SECONDS is the training time a seed costs (600 s).
# LM_DIRECTIONS=2 trains a backward LM (--reverse) beside the forward one, both at once for
# LM_SECONDS (the two cores shared), and starts a bidirectional classifier from the pair.
#   [LM_DIRECTIONS=2] bash bench/nsmc_recipe.sh [LM_SECONDS] [CLASSIFIER_SECONDS] [SCRATCH_DIR] [-- classifiers.py options]
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
train() {  # train() NAME [train-lm options]: one LM on the reviews, its valid ppl and steps said
  rnntool train-lm "$DIR/reviews.txt" --level word --tokenizer kiwi --max-vocab 20000 --emb 128 --hidden 256 \
    --max-time "$LM_SECONDS" --seed 1 -o "$DIR/$1.safetensors" -q --json "${@:2}" \
    | python3 -c 'import json,sys; r=json.load(sys.stdin); print("LM '"$1"': valid ppl", round(r["valid"]["ppl"], 1), "steps", r["steps"])'
}
START="$DIR/lm.safetensors"
if [[ ${LM_DIRECTIONS:-1} == 2 ]]; then
  # side by side: each rnntool process takes the threads the load leaves it (rnntool/parallel.py);
  # wait on each job so that set -e sees either one fail
  train lm & forward=$!
  train lm-backward --reverse & backward=$!
  wait "$forward"; wait "$backward"
  START="$DIR/lm.safetensors,$DIR/lm-backward.safetensors"
else
  train lm
fi
# the classifier takes the LM's shape (words only; one direction per LM); the plain command
# chooses batch 64 and lr 3e-3 for NSMC's number of texts
python3 "$HERE/classifiers.py" nsmc --budget "$CLASSIFIER_SECONDS" "$@" -- --init-from "$START"
