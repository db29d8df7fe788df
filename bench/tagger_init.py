#!/usr/bin/env python
"""`train-tagger --init-from LM` against the plain command, same budget, same seed, EWT UPOS.

    python bench/tagger_init.py [--lm-time 180] [--time 300] [--seed 1]
                                [--pair] [--text sentences|vectors] [--emb N] [--hidden N] [--layers N] [--no-plain]

The word LM reads the tokens of the training sentences of UD English-EWT and CoNLL-2003
(no test or dev text), one sentence a line, whitespace tokens (as the tagger sees them);
`--text vectors` reads word_vectors_tagger.py's larger text instead (those sentences, Alice,
tiny-shakespeare and PTB's training split, in the tagger's word forms). `--pair` trains a
backward LM (--reverse) beside the forward one, both at once for --lm-time, and starts the
tagger from the two (--init-from FORWARD,BACKWARD). Then taggers train on EWT train with EWT
dev -- the plain command (unless --no-plain) and one from the LM(s) -- and are scored on EWT
test. Every stage's time is printed.
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
    parser.add_argument("--pair", action="store_true", help="a backward LM beside the forward one")
    parser.add_argument("--text", choices=["sentences", "vectors"], default="sentences")
    parser.add_argument("--emb", type=int, help="the LM's --emb (each LM's, with --pair)")
    parser.add_argument("--hidden", type=int, help="the LM's --hidden (the tagger's --hidden to take its layer)")
    parser.add_argument("--layers", type=int, help="the LM's --layers")
    parser.add_argument("--no-plain", action="store_true", help="train no plain tagger")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        text = tmp / "lm.txt"
        if args.text == "vectors":
            from word_vectors_tagger import vectors_text

            vectors_text(text)
        else:
            lines = sentences_of_conllu(EWT / "en_ewt-ud-train.conllu") + sentences_of_conll(DATA / "conll2003" / "eng.train")
            text.write_text("\n".join(lines) + "\n")
            print(f"LM text: {len(lines):,} sentences, {sum(len(l.split()) for l in lines):,} tokens")
        shape = [flag for name in ("emb", "hidden", "layers") if getattr(args, name) is not None
                 for flag in (f"--{name}", str(getattr(args, name)))]
        lm_command = ["train-lm", str(text), "--level", "word", "--tokenizer", "whitespace", "--max-time",
                      str(args.lm_time), "--seed", str(args.seed), "-q", *shape]
        exe = str(Path(sys.executable).with_name("rnntool"))
        env = {**os.environ, "XDG_STATE_HOME": "/nonexistent"}
        t0 = time.perf_counter()
        lms = [tmp / "words.safetensors"] + ([tmp / "words-backward.safetensors"] if args.pair else [])
        jobs = [subprocess.Popen([exe, *lm_command, "-o", str(lm), *(["--reverse"] if k else [])], env=env,
                                 stdout=subprocess.DEVNULL) for k, lm in enumerate(lms)]  # side by side
        if any([job.wait() for job in jobs]):  # a list: wait for every one
            sys.exit("a language model failed")
        seconds = time.perf_counter() - t0
        for lm in lms:  # what training measured on its held-out tail (eval-lm over 8 MB takes minutes)
            _, header = rnntool("info", str(lm), "--json")
            metrics = json.loads(header)["training"]["metrics"]
            print(f"word LM {lm.stem}: valid ppl {metrics['valid']['ppl']:.1f}, {metrics['steps']:,} steps, "
                  f"{metrics['epochs']:.1f} epochs")
        print(f"word LM{'s side by side' if args.pair else ''}: {seconds:.0f} s")
        start = ",".join(str(lm) for lm in lms)
        runs = ([] if args.no_plain else [("plain", [])]) + [("--init-from", ["--init-from", start]
                                                               + (["--hidden", str(args.hidden)] if args.hidden else []))]
        for name, extra in runs:
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
