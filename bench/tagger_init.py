#!/usr/bin/env python
"""`train-tagger --init-from LM` against the plain command, same budget, same seed, EWT UPOS.

    python bench/tagger_init.py [--lm-time 180] [--time 300] [--seed 1]

The word LM reads the tokens of the training sentences of UD English-EWT and CoNLL-2003
(no test or dev text), one sentence a line, whitespace tokens (as the tagger sees them);
then two taggers train on EWT train with EWT dev, one from the LM, and both are scored on
EWT test. Every stage's time is printed.
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

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
EWT = DATA / "ud-en-ewt"


def sentences_of_conllu(path: Path) -> list[str]:
    out, words = [], []
    for line in path.read_text().splitlines():
        if not line.strip():
            if words:
                out.append(" ".join(words))
            words = []
        elif not line.startswith("#"):
            cols = line.split("\t")
            if cols[0].isdigit():
                words.append(cols[1])
    return out


def sentences_of_conll(path: Path) -> list[str]:
    out, words = [], []
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("-DOCSTART-"):
            if words:
                out.append(" ".join(words))
            words = []
        else:
            words.append(line.split()[0])
    return out


def rnntool(*args: str) -> tuple[float, str]:
    exe = str(Path(sys.executable).with_name("rnntool"))
    t0 = time.perf_counter()
    out = subprocess.run([exe, *args], capture_output=True, text=True, check=True,
                         env={**os.environ, "XDG_STATE_HOME": "/nonexistent"}).stdout
    return time.perf_counter() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lm-time", type=float, default=180)
    parser.add_argument("--time", type=float, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        text = tmp / "lm.txt"
        lines = sentences_of_conllu(EWT / "en_ewt-ud-train.conllu") + sentences_of_conll(DATA / "conll2003" / "eng.train")
        text.write_text("\n".join(lines) + "\n")
        print(f"LM text: {len(lines):,} sentences, {sum(len(l.split()) for l in lines):,} tokens")
        lm = tmp / "words.safetensors"
        seconds, _ = rnntool("train-lm", str(text), "--level", "word", "--tokenizer", "whitespace",
                             "--max-time", str(args.lm_time), "--seed", str(args.seed), "-q", "-o", str(lm))
        _, ppl = rnntool("eval-lm", str(lm), str(text), "--json")
        print(f"word LM: {seconds:.0f} s (train text ppl {json.loads(ppl)['ppl']:.1f})")
        for name, extra in (("plain", []), ("--init-from", ["--init-from", str(lm)])):
            model = tmp / f"{name.strip('-')}.safetensors"
            seconds, _ = rnntool("train-tagger", str(EWT / "en_ewt-ud-train.conllu"), "--dev",
                                 str(EWT / "en_ewt-ud-dev.conllu"), "--max-time", str(args.time), "--seed",
                                 str(args.seed), "-q", "-o", str(model), *extra)
            _, scores = rnntool("eval-tagger", str(EWT / "en_ewt-ud-test.conllu"), "-m", str(model), "--json")
            s = json.loads(scores)
            oov = s.get("oov_accuracy")
            print(f"tagger {name:12s}: {seconds:.0f} s, test accuracy {100 * s['accuracy']:.2f}"
                  + (f", unseen words {100 * oov:.2f}" if oov is not None else ""))


if __name__ == "__main__":
    main()
