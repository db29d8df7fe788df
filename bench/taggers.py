#!/usr/bin/env python
"""Tagger quality benchmarks, each as a user would run them (train-tagger, then
eval-tagger on the held-out test set), with the peer baseline in the same run.

    python bench/taggers.py ewt   [--seeds 0 1 2] [--budget 600] [-- extra train-tagger options]
    python bench/taggers.py conll2003 [--budget 600] [-- --crf ...]
    python bench/taggers.py ptb-pos [--budget 600]

ewt: UD English-EWT UPOS (train/dev/test), mean +- std over seeds, beside NLTK's
averaged perceptron (../shared/peers/nltk_perceptron.py).
conll2003: English NER, testa as dev, testb as test; entity F1 (conlleval rules).
ptb-pos: NLTK's treebank sample, 80/20 split with seed 777 (the classic tutorial's
train_test_split: RandomState(777).permutation, the first 20% as test).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
PEERS = ROOT.parent / "shared" / "peers"


def rnntool(*args: str, env=None) -> str:
    out = subprocess.run([sys.executable, "-m", "rnntool", *map(str, args)], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(out.stderr)
    return out.stdout


def train_and_eval(train, dev, test, budget, seed, extra, tmp, column=None) -> dict:
    env = {**os.environ, "XDG_STATE_HOME": str(tmp)}
    model = Path(tmp) / f"tagger-{seed}.safetensors"
    col = ["--column", column] if column else []
    t0 = time.perf_counter()
    summary = json.loads(rnntool("train-tagger", train, *(["--dev", dev] if dev else []), "-o", model, "--max-time",
                                 budget, "--seed", seed, "--json", "-q", *col, *extra, env=env))
    wall = time.perf_counter() - t0
    scores = json.loads(rnntool("eval-tagger", "-m", model, test, "--json", "-q", *col, env=env))
    return {"summary": summary, "scores": scores, "wall": wall, "model": model}


def header(name: str, budget: float, extra: list[str]) -> None:
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, python {platform.python_version()}")
    print(f"benchmark: {name}; command: rnntool train-tagger ... --max-time {budget:g} {' '.join(extra)}")


def ewt(args) -> None:
    d = DATA / "ud-en-ewt"
    train, dev, test = d / "en_ewt-ud-train.conllu", d / "en_ewt-ud-dev.conllu", d / "en_ewt-ud-test.conllu"
    header("UD English-EWT UPOS", args.budget, args.extra)
    accs = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            r = train_and_eval(train, dev, test, args.budget, seed, args.extra, tmp)
            s = r["scores"]
            accs.append(s["accuracy"])
            print(f"seed {seed}: test accuracy {s['accuracy']:.4f} (IV {s['iv_accuracy']:.4f}, OOV {s['oov_accuracy']:.4f}), "
                  f"dev {r['summary']['valid']['accuracy']:.4f}, {r['summary']['steps']:,} steps, {r['summary']['epochs']:.1f} epochs, "
                  f"training {r['summary']['train_seconds']:.0f} s, wall {r['wall']:.0f} s")
    mean = statistics.mean(accs)
    std = statistics.stdev(accs) if len(accs) > 1 else 0.0
    print(f"UPOS test accuracy: {100 * mean:.2f} +- {100 * std:.2f} % over {len(accs)} seeds")
    peer = PEERS / "nltk_perceptron.py"
    if peer.exists() and not args.no_peer:
        out = json.loads(subprocess.run([sys.executable, str(peer), str(train), str(test)], capture_output=True,
                                        text=True).stdout)
        t = out["tests"][str(test)]
        print(f"peer NLTK averaged perceptron: {100 * t['accuracy']:.2f} %, trained in {out['train_s']} s, "
              f"{t['tokens_per_s']:,} tokens/s")


def conll2003(args) -> None:
    d = DATA / "conll2003"
    header("CoNLL-2003 English NER", args.budget, args.extra)
    f1s = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            r = train_and_eval(d / "eng.train", d / "eng.testa", d / "eng.testb", args.budget, seed, args.extra, tmp)
            sp = r["scores"]["spans"]
            by = ", ".join(f"{t} {v['f1']:.3f}" for t, v in sp["by_type"].items())
            f1s.append(sp["f1"])
            print(f"seed {seed}: testb entity F1 {100 * sp['f1']:.2f} (P {100 * sp['precision']:.2f}, R {100 * sp['recall']:.2f}; "
                  f"{by}), dev F1 {100 * r['summary']['valid']['f1']:.2f}, {r['summary']['steps']:,} steps, "
                  f"{r['summary']['epochs']:.1f} epochs, training {r['summary']['train_seconds']:.0f} s")
    std = statistics.stdev(f1s) if len(f1s) > 1 else 0.0
    print(f"testb entity F1: {100 * statistics.mean(f1s):.2f} +- {100 * std:.2f} over {len(f1s)} seeds")


def ptb_pos(args) -> None:
    import numpy as np

    os.environ["NLTK_DATA"] = str(DATA / "ptb-pos" / "nltk_data")
    from nltk.corpus import treebank

    sents = treebank.tagged_sents()
    n = len(sents)
    n_test = math.ceil(0.2 * n)
    perm = np.random.RandomState(777).permutation(n)  # sklearn's train_test_split(test_size=0.2, random_state=777)
    test_idx, train_idx = perm[:n_test], perm[n_test:]
    header(f"NLTK treebank sample ({n - n_test} train / {n_test} test sentences, seed 777)", args.budget, args.extra)
    with tempfile.TemporaryDirectory() as tmp:
        def write(name, idx):
            path = Path(tmp) / name
            path.write_text("\n".join(" ".join(f"{w}/{t}" for w, t in sents[i]) for i in idx) + "\n")
            return path

        train, test = write("train.txt", train_idx), write("test.txt", test_idx)
        for seed in args.seeds:
            r = train_and_eval(train, None, test, args.budget, seed, args.extra, tmp)
            s = r["scores"]
            print(f"seed {seed}: test accuracy {100 * s['accuracy']:.2f} % (OOV {100 * (s['oov_accuracy'] or 0):.2f} % on "
                  f"{s['oov_tokens']} tokens), {r['summary']['epochs']:.1f} epochs, training {r['summary']['train_seconds']:.0f} s")
        # most-frequent-tag baseline, vocabulary from the training part only
        from collections import Counter, defaultdict

        counts = defaultdict(Counter)
        for i in train_idx:
            for w, t in sents[i]:
                counts[w][t] += 1
        overall = Counter(t for c in counts.values() for t in c.elements()).most_common(1)[0][0]
        ok = total = 0
        for i in test_idx:
            for w, t in sents[i]:
                guess = counts[w].most_common(1)[0][0] if w in counts else overall
                ok += guess == t
                total += 1
        print(f"most-frequent-tag baseline: {100 * ok / total:.2f} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=["ewt", "conll2003", "ptb-pos"])
    parser.add_argument("--budget", type=float, default=600.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--no-peer", action="store_true")
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []  # train-tagger options, passed through
    args = parser.parse_args(argv[: len(argv) - len(extra) - (1 if extra else 0)])
    args.extra = extra
    {"ewt": ewt, "conll2003": conll2003, "ptb-pos": ptb_pos}[args.task](args)


if __name__ == "__main__":
    main()
