#!/usr/bin/env bash
# Does --init-from LM (ULMFiT-style) help on NSMC? A word LM trained on the training
# reviews' text, then two classifiers of the same shape (unidirectional, words only, the
# LM's vocabulary and sizes) for the same time: one started from the LM, one from scratch.
#   bash bench/classifier_init.sh [LM_SECONDS] [CLASSIFIER_SECONDS] [SCRATCH_DIR]
set -euo pipefail
LM_SECONDS=${1:-240}
SECONDS_EACH=${2:-300}
DIR=${3:-$(mktemp -d)}
DATA="$(cd "$(dirname "$0")/.." && pwd)/../shared/data/nsmc"
TOK=(--tokenizer kiwi)
echo "machine: $(uname -m), $(nproc) cpus; scratch $DIR"
tail -n +2 "$DATA/ratings_train.txt" | cut -f2 > "$DIR/reviews.txt"   # the training texts only
rnntool train-lm "$DIR/reviews.txt" --level word "${TOK[@]}" --max-vocab 20000 --emb 128 --hidden 256 \
  --max-time "$LM_SECONDS" -o "$DIR/lm.safetensors" -q --json | python3 -c 'import json,sys; r=json.load(sys.stdin); print("LM: valid", r["valid"], "steps", r["steps"])'
run() { # name, extra train-classifier options
  local name=$1; shift
  rnntool train-classifier "$DATA/ratings_train.txt" "${TOK[@]}" --max-time "$SECONDS_EACH" --seed 1 \
    -o "$DIR/$name.safetensors" -q --json "$@" > "$DIR/$name.train.json"
  rnntool eval-classifier "$DATA/ratings_test.txt" -m "$DIR/$name.safetensors" --json -q > "$DIR/$name.test.json"
  python3 - "$DIR/$name" "$name" <<'PY'
import json, sys
base, name = sys.argv[1], sys.argv[2]
train, test = json.load(open(base + ".train.json")), json.load(open(base + ".test.json"))
print(f"{name}: test accuracy {test['accuracy']:.4f}, dev {train['valid']['accuracy']:.4f}, "
      f"{train['epochs']:.1f} epochs in {train['train_seconds']:.0f} s, {train['params']:,} params")
PY
}
run init-from-lm --init-from "$DIR/lm.safetensors"
run from-scratch --unidirectional --char-filters 0 --case-emb 0 --word-emb 128 --hidden 256 --max-vocab 20000
