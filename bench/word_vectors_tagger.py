#!/usr/bin/env python
"""Word vectors trained here for a tagger (`train-tagger --word-vectors`), everything timed, on 2 cores.

    python bench/word_vectors_tagger.py conll2003|ewt|both --peer-python PY [--time 600] [--seed 1]
                                        [--epochs 10] [--baseline] [-- extra train-tagger options]

No pretrained vectors can be downloaded here, so the issue's benchmark trains them (#28 §3):
1. the text: char_lm_tagger.py's pretraining text (CoNLL-2003 eng.train and EWT train
   sentences, Alice, tiny-shakespeare) and the Mikolov PTB training split (WSJ news, already
   lower-cased), all read as the tagger reads words (lower case, digits as 0); no test or dev
   text of any set;
2. fastText skipgram vectors of 100 (the tagger's --word-emb) on it, in the peers' venv
   (PY: a python with the fasttext package, e.g. fasttext-wheel), written as a .vec file,
   frequent words first;
3. `train-tagger TRAIN --dev DEV --word-vectors VEC --max-time TIME` (`--crf` for NER), and
   with `--baseline` the same command without vectors;
4. `eval-tagger TEST`: CoNLL-2003 testb entity F1 or EWT test UPOS accuracy, and the unseen words'.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from char_lm_tagger import TASKS, pretraining_text
from tagger_init import DATA, rnntool

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from rnntool.features import normalize_word  # noqa: E402 -- the tagger's own word forms

FASTTEXT = """
import sys, fasttext
src, out, dim, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
# fasttext-wheel takes no seed; with two threads its vectors differ a little run to run
model = fasttext.train_unsupervised(src, model="skipgram", dim=dim, epoch=epochs, minCount=2, thread=2, verbose=0)
words = model.get_words()  # most frequent first
with open(out, "w", encoding="utf-8") as f:
    f.write(f"{len(words)} {dim}\\n")
    for w in words:
        f.write(w + " " + " ".join(f"{x:.5f}" for x in model.get_word_vector(w)) + "\\n")
"""


def vectors_text(path: Path) -> None:
    """char_lm_tagger's text and PTB's training split, each token in the tagger's word form."""
    raw = path.with_suffix(".raw")
    pretraining_text(raw)
    ptb = (DATA / "ptb-lm" / "ptb.train.txt").read_text()
    print(f"  PTB training split (WSJ): {len(ptb):,} characters")
    with open(path, "w", encoding="utf-8") as out:
        for text in (raw.read_text(encoding="utf-8"), ptb):
            for line in text.splitlines():
                words = [normalize_word(w) for w in line.split()]
                if words:
                    out.write(" ".join(words) + "\n")
    tokens = sum(len(line.split()) for line in path.read_text(encoding="utf-8").splitlines())
    print(f"  in all {path.stat().st_size / 1e6:.2f} MB, {tokens:,} tokens, lower-cased, digits as 0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=[*TASKS, "both"])
    parser.add_argument("--peer-python", required=True, help="a python with the fasttext package")
    parser.add_argument("--time", type=float, default=600)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=10, help="fastText's passes over the text")
    parser.add_argument("--baseline", action="store_true", help="also train the same tagger without --word-vectors")
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []  # train-tagger options, passed through
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, python {platform.python_version()}")
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        text, vec = tmp / "vectors.txt", tmp / "vectors.vec"
        print("vectors text:")
        vectors_text(text)
        t0 = time.perf_counter()
        subprocess.run([args.peer_python, "-c", FASTTEXT, str(text), str(vec), "100", str(args.epochs)], check=True)
        with open(vec, encoding="utf-8") as f:
            count = f.readline().split()[0]
        print(f"fastText skipgram, 100 dims, {args.epochs} epochs, words seen twice or more: {count} vectors in "
              f"{time.perf_counter() - t0:.0f} s")
        for task in (TASKS if args.task == "both" else [args.task]):
            train, dev, test, options = TASKS[task]
            runs = [("--word-vectors", ["--word-vectors", str(vec)])] + ([("plain", [])] if args.baseline else [])
            for name, run_options in runs:
                model = tmp / f"{task}-{name.strip('-')}.safetensors"
                seconds, _ = rnntool("train-tagger", str(train), "--dev", str(dev), "--max-time", str(args.time),
                                     "--seed", str(args.seed), "-q", "-o", str(model), *options, *run_options,
                                     *extra)
                _, scores = rnntool("eval-tagger", str(test), "-m", str(model), "--json")
                s = json.loads(scores)
                metric = (f"test entity F1 {100 * s['spans']['f1']:.2f}" if "spans" in s
                          else f"test accuracy {100 * s['accuracy']:.2f}")
                oov = s.get("oov_accuracy")
                print(f"{task} tagger {name}: trained {seconds:.0f} s, {metric}"
                      + (f", unseen words {100 * oov:.2f}" if oov is not None else ""))
                sys.stdout.flush()
    print(f"everything: {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
