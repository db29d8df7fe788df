#!/usr/bin/env python
"""Classifier quality, as a user would measure it: train-classifier on the official
training split (a stratified 10% held out as dev by rnntool itself), then
eval-classifier on the test split; mean +- std over seeds, beside the peers
(TF-IDF + logistic regression, fastText: ../shared/peers/classify_peers.py) in the
same run.

    python bench/classifiers.py sms-spam [--seeds 1 2 3] [--budget 600] [--peer-python PY] [-- train-classifier options]
    python bench/classifiers.py nsmc ...
    python bench/classifiers.py r8 ...
    python bench/classifiers.py r8 --subsample 0.1 ...   # a random 10% of the training split (small data)
    python bench/classifiers.py genres ...               # a set assembled here, that no rule was tuned on

genres: English lines and sentences labelled by where they come from - alice (the novel's
lines), shakespeare (the plays' lines), web (UD English-EWT sentences), news (CoNLL-2003
Reuters sentences, detokenized as the others are raw text) - built from ../shared/data at run
time (never stored in the repository): 3,000 training and 1,000 test texts a class (the novel
has fewer lines: ~1,800 and ~450), the test texts from each source's own held-out part (EWT's
and CoNLL's test splits, the last fifth of the two books) and none of them in training.

--peer-python names a Python with scikit-learn and fasttext-wheel installed (the peers
are skipped without it). Results are printed; copy them into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
PEERS = ROOT.parent / "shared" / "peers" / "classify_peers.py"
SPLITS = {
    "sms-spam": (DATA / "sms-spam" / "splits" / "train.tsv", DATA / "sms-spam" / "splits" / "test.tsv", []),
    # no model options: what the plain command chooses from the data is what is measured (the
    # per-dataset recipes these replaced are in docs/benchmarks.md); options after -- are added
    "nsmc": (DATA / "nsmc" / "ratings_train.txt", DATA / "nsmc" / "ratings_test.txt", []),
    "r8": (DATA / "r8" / "train.txt", DATA / "r8" / "test.txt", []),
}


def rnntool(*args, env=None) -> str:
    out = subprocess.run([sys.executable, "-m", "rnntool", *map(str, args)], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(out.stderr)
    return out.stdout


def subsample(dataset: str, fraction: float, directory: Path) -> Path:
    """A data folder laid out as DATA with a random ``fraction`` of ``dataset``'s training
    lines (seed 0; a header line kept) and its test split linked: the same texts for rnntool
    and the peers."""
    train, test, _ = SPLITS[dataset]
    lines = train.read_text(encoding="utf-8").splitlines(keepends=True)
    header = lines[:1] if dataset == "nsmc" else []
    body = lines[len(header):]
    kept = sorted(random.Random(0).sample(range(len(body)), round(fraction * len(body))))
    target = directory / train.relative_to(DATA)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join(header + [body[i] for i in kept]), encoding="utf-8")
    linked = directory / test.relative_to(DATA)
    if not linked.exists():
        linked.symlink_to(test)
    print(f"subsample: {len(kept):,} of {len(body):,} training texts (seed 0)")
    return directory


def _sample(texts: list[str], n: int, rng: random.Random, exclude: set[str] = frozenset()) -> list[str]:
    """Up to ``n`` distinct texts of three words or more, none of ``exclude``."""
    texts = [t for t in dict.fromkeys(" ".join(t.split()) for t in texts) if len(t.split()) >= 3 and t not in exclude]
    return rng.sample(texts, min(n, len(texts)))


def genres(directory: Path) -> Path:
    """The assembled set (module docstring), laid out as r8's files (label<TAB>text) under a
    data folder, so the peers' script reads it as it reads R8."""
    def book(path: Path, start: str | None, end: str | None, keep) -> tuple[list[str], list[str]]:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
        if start:  # the book's first line, after the e-book's front matter
            lines = lines[next(i for i, line in enumerate(lines) if line.startswith(start)):]
        if end:  # its last, before the licence
            lines = lines[:next(i for i, line in enumerate(lines) if line.strip() == end)]
        lines = [line.strip() for line in lines if keep(line.strip()) and any(c.isalpha() for c in line)]
        cut = int(len(lines) * 0.8)
        return lines[:cut], lines[cut:]

    def conllu(path: Path) -> list[str]:
        return [line[len("# text = "):] for line in path.read_text(encoding="utf-8").splitlines()
                if line.startswith("# text = ")]

    def conll(path: Path) -> list[str]:
        # the other sources are raw text: without this, "Men 's singles ( $ 1 )" alone marks news
        from nltk.tokenize.treebank import TreebankWordDetokenizer

        detokenize = TreebankWordDetokenizer().detokenize
        sentences, words = [], []
        for line in path.read_text(encoding="utf-8").splitlines() + [""]:
            if not line.strip():
                if words and words[0] != "-DOCSTART-":
                    sentences.append(detokenize(words))
                words = []
            else:
                words.append(line.split()[0])
        return sentences

    ewt = DATA / "ud-en-ewt"
    needed = [DATA / "alice" / "alice.txt", DATA / "tinyshakespeare" / "input.txt", ewt / "en_ewt-ud-train.conllu",
              ewt / "en_ewt-ud-test.conllu", DATA / "conll2003" / "eng.train", DATA / "conll2003" / "eng.testb"]
    if missing := [str(p) for p in needed if not p.exists()]:
        sys.exit(f"genres needs {', '.join(missing)}")
    sources = {
        "alice": book(DATA / "alice" / "alice.txt", "CHAPTER I.", "THE END",
                      lambda line: line and not line.startswith("CHAPTER")),
        "shakespeare": book(DATA / "tinyshakespeare" / "input.txt", None, None,
                            lambda line: line and not line.endswith(":")),  # not the speakers' names
        "web": (conllu(ewt / "en_ewt-ud-train.conllu"), conllu(ewt / "en_ewt-ud-test.conllu")),
        "news": (conll(DATA / "conll2003" / "eng.train"), conll(DATA / "conll2003" / "eng.testb")),
    }
    rng = random.Random(0)
    target = directory / "r8"
    target.mkdir(parents=True, exist_ok=True)
    trained: set[str] = set()
    for split, index, n in (("train", 0, 3000), ("test", 1, 1000)):
        rows = [f"{label}\t{text}" for label, parts in sources.items()
                for text in _sample(parts[index], n, rng, exclude=trained)]
        trained |= {row.split("\t", 1)[1] for row in rows}
        rng.shuffle(rows)
        (target / f"{split}.txt").write_text("\n".join(rows) + "\n", encoding="utf-8")
        counts = {label: sum(r.startswith(label + "\t") for r in rows) for label in sources}
        print(f"genres {split}: {len(rows):,} texts ({', '.join(f'{k} {v:,}' for k, v in counts.items())})")
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", choices=sorted(SPLITS) + ["genres"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--budget", type=float, default=600.0, help="seconds of training per seed")
    parser.add_argument("--peer-python", help="a Python with scikit-learn and fasttext-wheel")
    parser.add_argument("--keep", type=Path, help="keep the model of the first seed here")
    parser.add_argument("--subsample", type=float, help="train on this random fraction of the training split")
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []  # train-classifier options, passed through
    args = parser.parse_args(argv[: len(argv) - len(extra) - (1 if extra else 0)])
    args.extra = extra
    if args.dataset == "genres" and args.subsample is not None:
        sys.exit("--subsample: genres is small already (3,000 training texts a class at most)")
    train, test, defaults = SPLITS["r8" if args.dataset == "genres" else args.dataset]
    if not train.exists():
        sys.exit(f"missing {train}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, python {platform.python_version()}")
    print(f"command: rnntool train-classifier {train.name} --max-time {args.budget:g} --seed S "
          f"{' '.join(defaults + args.extra)}; rnntool eval-classifier {test.name}")
    accs, f1s = [], []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "XDG_STATE_HOME": tmp}
        data = DATA
        if args.dataset == "genres":
            data = genres(Path(tmp) / "data")
            train, test = data / "r8" / "train.txt", data / "r8" / "test.txt"
        if args.subsample:
            data = subsample(args.dataset, args.subsample, Path(tmp) / "data")
            train = data / train.relative_to(DATA)
        for i, seed in enumerate(args.seeds):
            model = Path(tmp) / f"c{seed}.safetensors"
            t0 = time.perf_counter()
            summary = json.loads(rnntool("train-classifier", train, "-o", model, "--max-time", args.budget, "--seed",
                                         seed, "--json", "-q", *defaults, *args.extra, env=env))
            wall = time.perf_counter() - t0
            scores = json.loads(rnntool("eval-classifier", "-m", model, test, "--json", "-q", env=env))
            accs.append(scores["accuracy"])
            f1s.append(scores["macro"]["f1"])
            extra = ""
            if "roc_auc" in scores:
                pos = scores["positive_class"]
                extra = f", {pos} F1 {scores['per_class'][pos]['f1']:.4f}, ROC-AUC {scores['roc_auc']:.4f}"
            cal = summary.get("calibration", {})
            print(f"seed {seed}: test accuracy {scores['accuracy']:.4f}, macro-F1 {scores['macro']['f1']:.4f}{extra}, "
                  f"test ECE {scores['ece']:.4f} (dev ECE {cal.get('dev_ece_before', float('nan')):.4f} -> "
                  f"{cal.get('dev_ece_after', float('nan')):.4f}, T {cal.get('temperature', 1):.3f}); "
                  f"dev {summary['valid']['accuracy']:.4f}, {summary['epochs']:.1f} epochs, "
                  f"{summary['steps']:,} steps, {summary['train_seconds']:.0f} s training, wall {wall:.0f} s, "
                  f"{summary['params']:,} params", flush=True)
            for choice in summary.get("choices", []):
                print(f"  chose {choice['flags']} ({choice['because']})")
            if i == 0 and args.keep:
                args.keep.write_bytes(model.read_bytes())
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        print(f"{args.dataset} test accuracy: {statistics.mean(accs):.4f} +- {std:.4f} over {len(accs)} seeds "
              f"(macro-F1 {statistics.mean(f1s):.4f})")
        if args.peer_python and PEERS.exists():
            peers(args, data)


def peers(args, data: Path) -> None:
    name = "r8" if args.dataset == "genres" else args.dataset  # genres is laid out as r8's files
    out = subprocess.run([args.peer_python, str(PEERS), name, "--data", str(data)], capture_output=True,
                         text=True)
    for line in out.stdout.splitlines():
        peer = json.loads(line)
        if "skipped" in peer:
            print(f"peer {peer['peer']}: skipped ({peer['skipped']})")
        else:
            print(f"peer {peer['peer']}: test accuracy {peer['test_accuracy']:.4f}, macro-F1 {peer['macro_f1']:.4f},"
                  f" {peer['train_s']} s training, {peer['predict_lines_per_s']:,} lines/s ({peer['config']})")


if __name__ == "__main__":
    main()
