#!/usr/bin/env python
"""The Treebank-tokenizing commands on raw text, this tree against the code of another commit
in the same run, alternated, outputs compared byte for byte:

- `rnntool prep --level word` on prose: tiny Shakespeare, Alice, the raw sentences of UD
  English-EWT (its `# text` lines) and the SMS texts (3.0 MB), repeated --repeat times;
  NLTK's own tokenizer (line by line, one process) as the peer;
- `rnntool tag` (the bundled tagger) on EWT dev+test raw sentences, repeated 5 times;
- with --korean, text whose words are seldom seen twice: `prep --level word` on NSMC's
  training reviews (eojeol words, 13 MB) and `classify` with the bundled `ko-sentiment`
  (Treebank words too) on its test reviews.

    python bench/tokenize_speed.py [--before REF] [--rounds 3] [--repeat 1] [--no-peer] [--korean]
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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"


def prose() -> str:
    parts = [(DATA / "tinyshakespeare" / "input.txt").read_text(), (DATA / "alice" / "alice.txt").read_text()]
    for name in ("en_ewt-ud-train.conllu", "en_ewt-ud-dev.conllu", "en_ewt-ud-test.conllu"):
        text = (DATA / "ud-en-ewt" / name).read_text()
        parts.append("\n".join(l[len("# text = "):] for l in text.splitlines() if l.startswith("# text = ")))
    sms = (DATA / "sms-spam" / "SMSSpamCollection").read_text(encoding="utf-8", errors="replace")
    parts.append("\n".join(l.partition("\t")[2] for l in sms.splitlines()))
    return "\n".join(parts) + "\n"


def ewt_sentences() -> str:
    lines = []
    for name in ("en_ewt-ud-dev.conllu", "en_ewt-ud-test.conllu"):
        text = (DATA / "ud-en-ewt" / name).read_text()
        lines += [l[len("# text = "):] for l in text.splitlines() if l.startswith("# text = ")]
    return "\n".join(lines * 5) + "\n"


def nsmc_test_reviews(split: str = "test") -> str:
    """NSMC's test (or train) reviews, one a line (rows without a review left out)."""
    rows = (DATA / "nsmc" / f"ratings_{split}.txt").read_text(encoding="utf-8").splitlines()[1:]
    return "".join(r.split("\t")[1] + "\n" for r in rows if r.count("\t") == 2 and r.split("\t")[1])


@contextmanager
def tree_of(ref: str, parent: Path) -> Iterator[Path]:
    """Commit ``ref``'s code as a detached git worktree under ``parent``, removed afterwards."""
    tree = parent / "before"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(tree), ref], check=True)
    try:
        yield tree
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=True)


def environment(tree: Path, **more: str) -> dict:
    """A child's environment: ``tree``'s code, no user state, bytecode caches allowed (as a
    user's installation has them; this machine's shell turns them off, which would charge the
    tree with more modules for compiling them at every start)."""
    env = {**os.environ, "PYTHONPATH": str(tree), "XDG_STATE_HOME": "/nonexistent", **more}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def rnntool(tree: Path, *args: str, stdout=None, env: dict | None = None) -> float:
    """Seconds to run ``rnntool ARGS`` from ``tree``'s code (``env``: more variables)."""
    env = environment(tree, **(env or {}))
    t0 = time.perf_counter()
    # run from the tree: `python -m` puts the working directory first on the path
    subprocess.run([sys.executable, "-m", "rnntool", *args], env=env, cwd=tree, stdout=stdout, check=True)
    return time.perf_counter() - t0


def prep(tree: Path, src: Path, out: Path) -> float:
    return rnntool(tree, "prep", str(src), "--level", "word", "-o", str(out), "-q")


def tag(tree: Path, src: Path, out: Path) -> float:
    with open(out, "w") as f:
        return rnntool(tree, "tag", str(src), "-q", stdout=f)


def classify(tree: Path, src: Path, out: Path) -> float:
    with open(out, "w") as f:
        return rnntool(tree, "classify", "-m", "ko-sentiment", str(src), "-q", stdout=f)


def same_corpus(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in a.iterdir())
    return names == sorted(p.name for p in b.iterdir()) and all(
        filecmp.cmp(a / n, b / n, shallow=False) for n in names if n != "corpus.json") and _meta(a) == _meta(b)


def _meta(corpus: Path) -> dict:
    import json

    from rnntool.text.tokenize import TokenizerSettings

    meta = json.loads((corpus / "corpus.json").read_text())
    meta.pop("sources", None)  # the input's path is the same file; nothing else may differ
    # settings an older commit did not have yet are written with their defaults now
    meta["tokenizer"] = TokenizerSettings.from_dict(meta["tokenizer"]).to_dict()
    return meta


def nltk_rate(lines: list[str]) -> float:
    code = ("import sys,time\nfrom nltk.tokenize.treebank import TreebankWordTokenizer\nt=TreebankWordTokenizer()\n"
            "lines=open(sys.argv[1]).read().split('\\n')\nt0=time.perf_counter()\nfor l in lines: t.tokenize(l)\n"
            "print(time.perf_counter()-t0)")
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as f:
        f.write("\n".join(lines))
        f.flush()
        return float(subprocess.run([sys.executable, "-c", code, f.name], capture_output=True, text=True,
                                    check=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", default="HEAD", help="the commit to compare with (default: HEAD)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--no-peer", action="store_true", help="leave out NLTK's rate (minutes on a large --repeat)")
    parser.add_argument("--korean", action="store_true", help="also prep and classify NSMC's Korean reviews")
    args = parser.parse_args()
    text = prose() * args.repeat
    mb = len(text.encode()) / 1e6
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, python {platform.python_version()}; "
          f"{mb:.1f} MB of prose; before = {args.before}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = tmp / "prose.txt"
        src.write_text(text)
        sentences = tmp / "ewt.txt"
        sentences.write_text(ewt_sentences())
        reviews, test_reviews = tmp / "nsmc_train.txt", tmp / "nsmc_test.txt"
        if args.korean:
            reviews.write_text(nsmc_test_reviews("train"))
            test_reviews.write_text(nsmc_test_reviews())
        with tree_of(args.before, tmp) as before:
            times: dict[tuple[str, str], list[float]] = {}
            for r in range(args.rounds):
                for name, tree in (("before", before), ("now", ROOT)):
                    times.setdefault(("prep", name), []).append(prep(tree, src, tmp / f"{name}{r}"))
                    times.setdefault(("tag", name), []).append(tag(tree, sentences, tmp / f"{name}{r}.tagged"))
                    if args.korean:
                        times.setdefault(("prep-ko", name), []).append(prep(tree, reviews, tmp / f"{name}{r}.ko"))
                        times.setdefault(("classify-ko", name), []).append(
                            classify(tree, test_reviews, tmp / f"{name}{r}.classified"))
            identical = {"prep": same_corpus(tmp / "before0", tmp / "now0"),
                         "tag": filecmp.cmp(tmp / "before0.tagged", tmp / "now0.tagged", shallow=False)}
            if args.korean:
                identical["prep-ko"] = same_corpus(tmp / "before0.ko", tmp / "now0.ko")
                identical["classify-ko"] = filecmp.cmp(tmp / "before0.classified", tmp / "now0.classified",
                                                       shallow=False)
            tokens = sum(len(line.split()) for line in (tmp / "now0.tagged").read_text().splitlines())
            reviews_mb = reviews.stat().st_size / 1e6 if args.korean else 0
            reviews_lines = len(test_reviews.read_text().splitlines()) if args.korean else 0
        nltk_s = None if args.no_peer else nltk_rate(text.split("\n"))
    med = {k: statistics.median(v) for k, v in times.items()}
    commands = [("prep", "MB/s", mb), ("tag", "tokens/s", tokens)]
    if args.korean:
        commands += [("prep-ko", "MB/s", reviews_mb), ("classify-ko", "lines/s", reviews_lines)]
    for command, unit, amount in commands:
        for name in ("before", "now"):
            runs = ", ".join(f"{t:.2f}" for t in times[command, name])
            print(f"{command} {name:6s}: median {med[command, name]:.2f} s = {amount / med[command, name]:,.{2 if unit == 'MB/s' else 0}f} {unit} "
                  f"(runs: {runs})")
        print(f"{command} speed-up: {med[command, 'before'] / med[command, 'now']:.2f}x; "
              f"outputs byte-identical: {identical[command]}")
    if nltk_s is not None:
        print(f"peer, NLTK TreebankWordTokenizer line by line (tokenizing only, one process): {mb / nltk_s:.2f} MB/s")


if __name__ == "__main__":
    main()
