"""Peak memory as the input grows (issue #15): prep, a fixed number of train-lm steps on
the prepared corpus, eval-lm, tag and generate, on text of the given sizes made by
repeating shuffled lines of ../shared/data in a scratch directory (never committed).

    python bench/memory.py [--sizes 1 10 100 1000] [--scratch DIR] [--tag-max 10]
    python bench/memory.py --classifier [--sizes 5 50] [--before CHECKOUT]

--classifier (issue #29): train-classifier for a fixed number of steps on labelled lines of
the given sizes (SMS's and R8's training sets repeated, shuffled) and on NSMC's training
set as it is (14.6 MB of distinct reviews, where the vocabulary grows too) and repeated,
then train-tagger on CoNLL-2003's training file repeated whole (--tagger-only: just these);
--before runs the same commands from another checkout too (the code before a change).

Peak RSS is the child's ru_maxrss (wait4), so each figure is one process's high-water
mark, model and interpreter included. Results are printed; copy them into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
SOURCES = [DATA / "tinyshakespeare" / "input.txt", DATA / "alice" / "alice.txt"]


def make_text(path: Path, megabytes: int) -> None:
    lines = [line for src in SOURCES for line in src.read_text(encoding="utf-8").splitlines() if line.strip()]
    rng = random.Random(0)
    target = megabytes * 1_000_000
    written = 0
    with open(path, "w", encoding="utf-8") as f:
        while written < target:
            rng.shuffle(lines)
            block = "\n".join(lines) + "\n"
            f.write(block)
            written += len(block.encode("utf-8"))


def measure(args: list[str], stdin=None, checkout: Path = ROOT) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of ``rnntool ARGS`` (the package of ``checkout``)."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "rnntool", *map(str, args)], stdin=stdin, cwd=checkout,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"rnntool {' '.join(map(str, args))} failed: {proc.stderr.read().decode()[-500:]}")
    return seconds, usage.ru_maxrss / 1024


LABELLED = {"sms": (DATA / "sms-spam" / "splits" / "train.tsv", []),
            "r8": (DATA / "r8" / "train.txt", []),
            "nsmc": (DATA / "nsmc" / "ratings_train.txt", ["--text-col", "document", "--label-col", "label"])}


def make_labelled(source: Path, path: Path, megabytes: float | None) -> None:
    """``source``'s records shuffled and repeated to ``megabytes`` (None: once, as they are);
    a table's header line stays first, once."""
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    header = [lines.pop(0)] if source.name.startswith("ratings") else []
    rng = random.Random(0)
    written = 0
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(header)
        while True:
            block = "".join(lines)
            f.write(block)
            written += len(block.encode("utf-8"))
            if megabytes is None or written >= megabytes * 1_000_000:
                break
            rng.shuffle(lines)


def make_tagged(source: Path, path: Path, megabytes: float) -> None:
    """``source`` (blank-line separated sentences) copied whole until ``megabytes``."""
    block = source.read_text(encoding="utf-8").rstrip("\n") + "\n\n"
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(max(1, round(megabytes * 1_000_000 / len(block.encode("utf-8"))))):
            f.write(block)


def classifier_rows(args, scratch: Path) -> None:
    checkouts = [("now", ROOT)] + ([("before", Path(args.before).resolve())] if args.before else [])
    print("command | data | size | " + " | ".join(f"peak RSS ({name}) | s ({name})" for name, _ in checkouts))
    cases = [] if args.tagger_only else (
        [(name, mb) for name in ("sms", "r8") for mb in args.sizes] + [("nsmc", None), ("nsmc", max(args.sizes))])
    cases += [("conll2003", mb) for mb in args.sizes]
    for name, mb in cases:
        if name == "conll2003":
            data, options, command = scratch / f"conll{mb}.txt", [], "train-tagger"
            if not data.exists():
                make_tagged(DATA / "conll2003" / "eng.train", data, mb)
        else:
            (source, options), command = LABELLED[name], "train-classifier"
            data = scratch / f"{name}{mb or ''}{source.suffix}"
            if not data.exists():
                make_labelled(source, data, mb)
        cells = []
        for label, checkout in checkouts:
            seconds, rss = measure([command, data, *options, "--max-steps", args.steps, "--seed", "1",
                                    "-o", scratch / f"{command}-{label}.safetensors", "-q"], checkout=checkout)
            cells.append(f"{rss:.0f} MB | {seconds:.0f}")
        size = data.stat().st_size / 1e6
        print(f"{command} | {name}{'' if mb is None else ' repeated'} | {size:.1f} MB | " + " | ".join(cells),
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 100, 1000], help="MB of text")
    parser.add_argument("--scratch", default=None)
    parser.add_argument("--tag-max", type=int, default=10, help="eval-lm and tag only inputs up to this many MB")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--classifier", action="store_true", help="the train-classifier rows instead")
    parser.add_argument("--before", default=None, help="--classifier: also run the package of this checkout")
    parser.add_argument("--tagger-only", action="store_true", help="--classifier: only the train-tagger rows")
    args = parser.parse_args()
    scratch = Path(args.scratch or tempfile.mkdtemp(prefix="rnntool-memory-"))
    scratch.mkdir(parents=True, exist_ok=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, python {platform.python_version()}; scratch {scratch}")
    if args.classifier:
        return classifier_rows(args, scratch)
    print("size | prep s (MB/s) | prep RSS | train-lm RSS | eval-lm RSS | tag RSS | one-line prep RSS")
    for mb in args.sizes:
        text = scratch / f"text{mb}.txt"
        if not text.exists():
            make_text(text, mb)
        corpus = scratch / f"corpus{mb}"
        prep_s, prep_rss = measure(["prep", text, "--level", "word", "--max-vocab", "20000", "-o", corpus, "-q"])
        _, train_rss = measure(["train-lm", corpus, "--max-steps", args.steps, "--hidden", "128", "--emb", "64",
                                "-o", scratch / f"lm{mb}.safetensors", "-q"])
        eval_rss = tag_rss = "-"
        if mb <= args.tag_max:  # the numpy runtime's speed, not its memory, is what limits these
            eval_rss = f"{measure(['eval-lm', scratch / f'lm{mb}.safetensors', text])[1]:.0f} MB"
            tag_rss = f"{measure(['tag', text, '-q'])[1]:.0f} MB"
        one_line = scratch / f"oneline{mb}.txt"
        if not one_line.exists():
            subprocess.run(f"tr '\\n' ' ' < {text} > {one_line}", shell=True, check=True)
        _, line_rss = measure(["prep", one_line, "--level", "char", "-o", scratch / f"char{mb}", "-q"])
        print(f"{mb} MB | {prep_s:.1f} s ({mb / prep_s:.2f} MB/s) | {prep_rss:.0f} MB | {train_rss:.0f} MB | "
              f"{eval_rss} | {tag_rss} | {line_rss:.0f} MB", flush=True)
    _, gen_small = measure(["generate", "-n", "10000", "--seed", "1"])
    _, gen_big = measure(["generate", "-n", "300000", "--seed", "1"])
    print(f"generate: -n 10,000 {gen_small:.0f} MB, -n 300,000 {gen_big:.0f} MB peak RSS")


if __name__ == "__main__":
    main()
