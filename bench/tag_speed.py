#!/usr/bin/env python
"""`rnntool tag` throughput, file in / file out, tokenization included, and time to
the first output line -- for the bundled model unless --model is given.

    python bench/tag_speed.py [--model MODEL] [--repeat 5]

Input: the raw sentences of UD English-EWT dev+test (the `# text` lines), repeated.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EWT = ROOT.parent / "shared" / "data" / "ud-en-ewt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    lines = []
    for name in ("en_ewt-ud-dev.conllu", "en_ewt-ud-test.conllu"):
        lines += [l[len("# text = "):] for l in (EWT / name).read_text().splitlines() if l.startswith("# text = ")]
    exe = str(Path(sys.executable).with_name("rnntool"))
    model = ["-m", str(args.model)] if args.model else []
    env = {**os.environ, "XDG_STATE_HOME": "/nonexistent"}
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, python {platform.python_version()}; "
          f"model: {args.model or 'bundled'}")
    with tempfile.TemporaryDirectory() as tmp:
        text = Path(tmp) / "in.txt"
        text.write_text("\n".join(lines * args.repeat) + "\n")
        for kind in ("text", "tokens"):
            src = text
            if kind == "tokens":  # the same sentences, tokenized beforehand: shows what tokenizing costs
                src = Path(tmp) / "in.tok"
                subprocess.run([exe, "tag", *model, str(text), "-q", "--format", "tsv"], stdout=open(Path(tmp) / "t.tsv", "w"),
                               env=env, check=True)
                sents, cur = [], []
                for l in (Path(tmp) / "t.tsv").read_text().splitlines():
                    if l:
                        cur.append(l.split("\t")[0])
                    else:
                        sents.append(" ".join(cur))
                        cur = []
                src.write_text("\n".join(sents) + "\n")
            out = Path(tmp) / f"out.{kind}"
            t0 = time.perf_counter()
            subprocess.run([exe, "tag", *model, str(src), "--input", kind, "-q"], stdout=open(out, "w"), env=env, check=True)
            wall = time.perf_counter() - t0
            tokens = sum(len(l.split()) for l in out.read_text().splitlines())
            print(f"--input {kind}: {tokens:,} tokens in {wall:.2f} s = {tokens / wall:,.0f} tokens/s (process start included)")
        firsts = []
        for _ in range(5):
            t0 = time.perf_counter()
            proc = subprocess.Popen([exe, "tag", *model, "-", "-q"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
            proc.stdin.write(b"The old man sailed to the islands.\n")
            proc.stdin.flush()
            proc.stdout.readline()
            firsts.append(time.perf_counter() - t0)
            proc.stdin.close()
            proc.wait()
        firsts.sort()
        print(f"process start -> first output line: {1000 * firsts[2]:.0f} ms (median of 5)")


if __name__ == "__main__":
    main()
