#!/usr/bin/env python
"""classify throughput (lines/s, file -> file) with a bundled model, beside fastText's
predict on the same lines in the same run, and the time from process start to the first
output line.

    python bench/classify_speed.py [--data sms|nsmc] [--model MODEL] [--repeat N]
                                   [--peer-python PY] [--before REF] [--rounds 3]

--data sms (default): the SMS Spam test split (../shared/data/sms-spam/splits/test.tsv)
repeated --repeat times (default 20), the bundled sms-spam; --data nsmc: NSMC's test
reviews once (the issue's measurement), the bundled ko-sentiment. Classified with the
default --jobs and with -j 1. fastText (fasttext-wheel, in --peer-python's environment) is
trained on the same data's training split with the peers' settings and predicts the same
texts in-process, as ../shared/peers/classify_peers.py does (the issue's ratio: one call;
warm repeats of the call are reported too), and file -> file in a fresh process from its
saved model, as rnntool is timed. --before REF: the code of commit REF classifies the same
file too, alternated with this tree --rounds times (medians), outputs compared byte for
byte. Scratch files go to a temporary directory, never beside the data.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPLITS = ROOT.parent / "shared" / "data" / "sms-spam" / "splits"
sys.path.insert(0, str(ROOT / "bench"))
from tokenize_speed import DATA, nsmc_test_reviews, rnntool, tree_of  # noqa: E402

FASTTEXT = r"""
import sys, time, fasttext
train, texts, work = sys.argv[1], sys.argv[2], sys.argv[3]
clean = lambda s: " ".join(s.split())
rows = [l.rstrip("\n").split("\t", 1) for l in open(train, encoding="utf-8")]
with open(work + ".ft", "w", encoding="utf-8") as f:
    for y, x in rows:
        f.write(f"__label__{y} {clean(x)}\n")
model = fasttext.train_supervised(work + ".ft", epoch=25, lr=0.5, wordNgrams=2, dim=100, minCount=1, verbose=0)
model.save_model(work + ".bin")
lines = [clean(l.rstrip("\n")) for l in open(texts, encoding="utf-8")]
rates = []
for _ in range(5):  # the first call as classify_peers.py times it; then warm repeats of it
    t = time.perf_counter()
    labels, _ = model.predict(lines)
    rates.append(len(lines) / (time.perf_counter() - t))
print(rates[0], sorted(rates[1:])[1])
"""

# fastText file -> file as rnntool is timed: a fresh process loads the saved model, reads
# the file, predicts, writes a label and probability per line
FASTTEXT_FILE = r"""
import sys, fasttext
model = fasttext.load_model(sys.argv[1])
lines = [" ".join(l.split()) for l in open(sys.argv[2], encoding="utf-8")]
labels, probs = model.predict(lines)
with open(sys.argv[3], "w", encoding="utf-8") as out:
    out.writelines(f"{y[0][9:]}\t{p[0]:.4f}\n" for y, p in zip(labels, probs))
"""


def median_wall(command: list[str], **kwargs) -> float:
    walls = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, check=True, **kwargs)
        walls.append(time.perf_counter() - t0)
    return sorted(walls)[1]


def first_line_seconds(model: str, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "rnntool", "classify", "-m", model, "-", "-q"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        proc.stdin.write("WINNER!! claim your free prize now\n")
        proc.stdin.flush()
        proc.stdout.readline()
        times.append(time.perf_counter() - t0)
        proc.stdin.close()
        proc.wait()
    return sorted(times)[len(times) // 2]


def nsmc_training_tsv(path: Path) -> None:
    """NSMC's training reviews as label<TAB>text (the fastText script's input)."""
    rows = (DATA / "nsmc" / "ratings_train.txt").read_text(encoding="utf-8").splitlines()[1:]
    fields = (r.split("\t") for r in rows if r.count("\t") == 2)
    path.write_text("".join(f"{label}\t{text}\n" for _, text, label in fields if text), encoding="utf-8")


def before_and_now(before_ref: str, rounds: int, model: str, texts: Path, tmp: Path) -> None:
    """classify TEXTS with commit ``before_ref``'s code and with this tree, alternated."""
    times: dict[str, list[float]] = {"before": [], "now": []}
    with tree_of(before_ref, tmp) as before:
        for r in range(rounds):
            for name, tree in (("before", before), ("now", ROOT)):
                with open(tmp / f"{name}{r}.out", "w") as out:
                    times[name].append(rnntool(tree, "classify", "-m", model, str(texts), "-q", stdout=out))
    med = {name: statistics.median(t) for name, t in times.items()}
    for name in ("before", "now"):
        print(f"classify {name:6s} ({before_ref if name == 'before' else 'this tree'}): median {med[name]:.2f} s "
              f"(runs: {', '.join(f'{t:.2f}' for t in times[name])})")
    same = all(filecmp.cmp(tmp / f"{name}{r}.out", tmp / "now0.out", shallow=False)
               for name in ("before", "now") for r in range(rounds))
    print(f"speed-up: {med['before'] / med['now']:.2f}x; outputs byte-identical (every run): {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", choices=("sms", "nsmc"), default="sms")
    parser.add_argument("--model", help="default: sms-spam for --data sms, ko-sentiment for nsmc")
    parser.add_argument("--repeat", type=int, help="times the texts are repeated (default: 20 for sms, 1 for nsmc)")
    parser.add_argument("--peer-python")
    parser.add_argument("--before", help="a commit whose code classifies the same file, alternated with this tree")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    args.model = args.model or {"sms": "sms-spam", "nsmc": "ko-sentiment"}[args.data]
    args.repeat = {"sms": 20, "nsmc": 1}[args.data] if args.repeat is None else args.repeat
    if args.data == "nsmc":
        texts = nsmc_test_reviews().splitlines()
    else:
        texts = [line.rstrip("\n").split("\t", 1)[1] for line in open(SPLITS / "test.tsv", encoding="utf-8")]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "texts.txt"
        path.write_text("".join(t + "\n" for t in texts * args.repeat), encoding="utf-8")
        n = len(texts) * args.repeat
        print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, python {platform.python_version()}; "
              f"model {args.model}; {n:,} lines ({args.data})")
        if args.before:
            before_and_now(args.before, args.rounds, args.model, path, Path(tmp))
        classify = [sys.executable, "-m", "rnntool", "classify", "-m", args.model, str(path), "-q"]
        here = {"cwd": ROOT, "env": {**os.environ, "PYTHONPATH": str(ROOT)}}  # this tree's code, wherever run from
        wall = median_wall(classify, **here)
        ours = n / wall
        print(f"rnntool classify FILE > /dev/null: {wall:.2f} s wall (median of 3), {ours:,.0f} lines/s "
              "(process start and model load included)")
        one = n / median_wall(classify + ["-j", "1"], **here)
        print(f"  the same with -j 1 (no worker processes): {one:,.0f} lines/s")
        print(f"process start -> first output line: {first_line_seconds(args.model) * 1000:.0f} ms (median of 5)")
        if args.peer_python:
            work = str(Path(tmp) / "fasttext")
            train = SPLITS / "train.tsv"
            if args.data == "nsmc":
                train = Path(tmp) / "nsmc-train.tsv"
                nsmc_training_tsv(train)
            out = subprocess.run([args.peer_python, "-c", FASTTEXT, str(train), str(path), work],
                                 capture_output=True, text=True, cwd=tmp)
            if out.returncode:
                print(f"peer fastText failed: {out.stderr.strip()[-300:]}")
                return
            peer, warm = map(float, out.stdout.split())
            print(f"peer fastText predict (in-process, same lines, one call as classify_peers.py times it): "
                  f"{peer:,.0f} lines/s  ->  ours {ours / peer:.3f}x fastText (-j 1: {one / peer:.3f}x)")
            print(f"  fastText predict called again on the same lines (warm; median of 4): {warm:,.0f} lines/s  ->  "
                  f"ours {ours / warm:.3f}x")
            model_bin = work + ".bin"
            peer_file = n / median_wall([args.peer_python, "-c", FASTTEXT_FILE, model_bin, str(path), os.devnull])
            print(f"peer fastText file -> file (process start, load_model, predict, write; median of 3): "
                  f"{peer_file:,.0f} lines/s  ->  ours {ours / peer_file:.3f}x")


if __name__ == "__main__":
    main()
