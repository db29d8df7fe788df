#!/usr/bin/env python
"""Character-LM features for a tagger (`train-tagger --char-lm`), everything timed, on 2 cores.

    python bench/char_lm_tagger.py conll2003 [--lm-time 360] [--time 600] [--seed 1] [--baseline]
    python bench/char_lm_tagger.py ewt [--lm-time 360] [--time 600] [--seed 1] [--baseline]
    python bench/char_lm_tagger.py both ...   (one pair of LMs, then both taggers)
    ... --lm-dir DIR        keep the two LMs in DIR, and reuse them when DIR has them already
    ... --also "OPTIONS"    also train a --char-lm tagger with these train-tagger options (repeatable)

Stages, each a plain rnntool command with the recipe's defaults:
1. the pretraining text, written from ../shared/data with no test or dev text: the training
   sentences of CoNLL-2003 (eng.train) and UD English-EWT (train), tokens joined by spaces
   (what the tagger feeds its LMs), and two cased prose books (Alice, tiny-shakespeare);
2. `train-lm TEXT --max-time LM_TIME` and `train-lm TEXT --reverse --max-time LM_TIME`
   (the character recipe, 2x384 LSTM);
3. `train-tagger TRAIN --dev DEV --char-lm FWD,BWD --max-time TIME` (`--crf` for NER, as the
   NER recipe in docs/benchmarks.md), and with `--baseline` the same without --char-lm;
4. `eval-tagger TEST`: CoNLL-2003 testb entity F1, or EWT test UPOS accuracy; and the tagging
   speed of the model on the test file.
CoNLL-2003 is research/evaluation-only: models trained here are for measurement, never bundled.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from tagger_init import DATA, EWT, rnntool, sentences_of_conll, sentences_of_conllu

CONLL = DATA / "conll2003"
TASKS = {
    "conll2003": (CONLL / "eng.train", CONLL / "eng.testa", CONLL / "eng.testb", ["--crf"]),
    "ewt": (EWT / "en_ewt-ud-train.conllu", EWT / "en_ewt-ud-dev.conllu", EWT / "en_ewt-ud-test.conllu", []),
}


def pretraining_text(path: Path) -> None:
    parts = {
        "CoNLL-2003 eng.train sentences": "\n".join(sentences_of_conll(CONLL / "eng.train")),
        "EWT train sentences": "\n".join(sentences_of_conllu(EWT / "en_ewt-ud-train.conllu")),
        "Alice": (DATA / "alice" / "alice.txt").read_text(encoding="utf-8-sig"),
        "tiny-shakespeare": (DATA / "tinyshakespeare" / "input.txt").read_text(),
    }
    path.write_text("\n".join(p.strip("\n") for p in parts.values()) + "\n")
    for name, text in parts.items():
        print(f"  {name}: {len(text):,} characters")
    print(f"  in all {path.stat().st_size / 1e6:.2f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=[*TASKS, "both"])
    parser.add_argument("--lm-time", type=float, default=360)
    parser.add_argument("--time", type=float, default=600)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--baseline", action="store_true", help="also train the same tagger without --char-lm")
    parser.add_argument("--lm-dir", type=Path, help="keep the LMs here; LMs found here are reused, not retrained")
    parser.add_argument("--also", action="append", default=[], metavar="OPTIONS",
                        help="also train a --char-lm tagger with these extra train-tagger options")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, python {platform.python_version()}")
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        text = tmp / "lm.txt"
        print("pretraining text:")
        pretraining_text(text)
        lms = []
        lm_dir = args.lm_dir or tmp
        lm_dir.mkdir(parents=True, exist_ok=True)
        for direction, extra in (("forward", []), ("backward", ["--reverse"])):
            lm = lm_dir / f"{direction}.safetensors"
            if lm.exists():
                seconds = float("nan")
                print(f"{direction} char LM: reusing {lm}")
            else:
                seconds, _ = rnntool("train-lm", str(text), "--max-time", str(args.lm_time), "--seed",
                                     str(args.seed), "-q", "-o", str(lm), *extra)
            metrics = json.loads(rnntool("info", str(lm), "--json")[1])["training"]["metrics"]
            print(f"{direction} char LM: {seconds:.0f} s, {metrics['epochs']:.2f} epochs, valid "
                  f"{metrics['valid']['loss']:.4f} nats/char ({metrics['valid']['bpc']:.4f} bpc)")
            lms.append(str(lm))
        for task in (TASKS if args.task == "both" else [args.task]):
            train, dev, test, options = TASKS[task]
            char_lm = ["--char-lm", ",".join(lms)]
            runs = ([("--char-lm", char_lm)] + [(f"--char-lm {also}", char_lm + also.split()) for also in args.also]
                    + ([("plain", [])] if args.baseline else []))
            for number, (name, extra) in enumerate(runs):
                model = tmp / f"{task}-{number}.safetensors"
                seconds, _ = rnntool("train-tagger", str(train), "--dev", str(dev), "--max-time", str(args.time),
                                     "--seed", str(args.seed), "-q", "-o", str(model), *options, *extra)
                tag_seconds, scores = rnntool("eval-tagger", str(test), "-m", str(model), "--json")
                s = json.loads(scores)
                metric = (f"test entity F1 {100 * s['spans']['f1']:.2f}" if "spans" in s
                          else f"test accuracy {100 * s['accuracy']:.2f}")
                print(f"{task} tagger {name}: trained {seconds:.0f} s, {metric}; eval-tagger {tag_seconds:.1f} s "
                      f"({s.get('tokens', 0) / tag_seconds:,.0f} tokens/s, process start included)")
    print(f"everything: {time.perf_counter() - began:.0f} s")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
