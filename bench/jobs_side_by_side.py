#!/usr/bin/env python
"""Two rnntool jobs at once on one machine (issue #29, section 2).

    python bench/jobs_side_by_side.py [--commands prep tag classify train-lm] [--repeat 2]

Each command runs alone, then twice at the same moment (two processes, each with its own
output), with the defaults a user gets (``--jobs`` as rnntool picks it). A fair share of the
machine is each of the two taking twice as long as one alone: ``alone / side-by-side`` of 0.5
per job (for train-lm, a fixed time budget: tokens per second). Oversubscription shows as a
sum of the two shares below 1.0 (the pair slower than running them one after the other) and
as one job starved while the other runs (a large gap between the two). Inputs are
built from ../shared/data: 5.5 MB of prose for prep, EWT's dev+test sentences (x5) for tag,
NSMC's test reviews for classify (the bundled ko-sentiment), Alice for train-lm (30 s).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tokenize_speed import DATA, ewt_sentences, nsmc_test_reviews, prose  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def inputs(work: Path) -> dict[str, Path]:
    paths = {"prose": work / "prose.txt", "ewt": work / "ewt.txt", "nsmc": work / "nsmc.txt"}
    paths["prose"].write_text(prose())
    paths["ewt"].write_text(ewt_sentences())
    paths["nsmc"].write_text(nsmc_test_reviews())
    return paths


def command(name: str, data: dict[str, Path], out: Path) -> list[str]:
    if name == "prep":
        return ["prep", str(data["prose"]), "--level", "word", "-o", str(out.with_suffix(".corpus")), "-q"]
    if name == "tag":
        return ["tag", str(data["ewt"]), "-q"]
    if name == "classify":
        return ["classify", "-m", "ko-sentiment", str(data["nsmc"]), "-q"]
    return ["train-lm", str(DATA / "alice" / "alice.txt"), "--max-time", "30", "--seed", "1", "-q",
            "-o", str(out.with_suffix(".safetensors")), "--log", str(out.with_suffix(".jsonl"))]


def start(args: list[str]) -> subprocess.Popen:
    """The command running, its stderr in a temporary file (a pipe nobody reads could fill)."""
    env = {**os.environ, "XDG_STATE_HOME": "/nonexistent"}
    errors = tempfile.TemporaryFile()
    process = subprocess.Popen([sys.executable, "-m", "rnntool", *args], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=errors)
    process.errors = errors
    return process


def rates(name: str, data: dict[str, Path], outs: list[Path]) -> list[float]:
    """Each job's rate of work when ``outs`` run at once: runs per second, or for train-lm
    (a fixed time budget) tokens per training second from its log."""
    procs = [start(command(name, data, out)) for out in outs]
    t0, ends = time.perf_counter(), {}
    while len(ends) < len(procs):
        for i, p in enumerate(procs):
            if i not in ends and p.poll() is not None:
                if p.returncode != 0:
                    p.errors.seek(0)
                    raise SystemExit(f"{p.args}: {p.errors.read().decode()}")
                ends[i] = time.perf_counter() - t0
        time.sleep(0.01)
    if name != "train-lm":
        return [1 / ends[i] for i in range(len(procs))]
    speeds = []
    for out in outs:
        steps = [json.loads(line) for line in out.with_suffix(".jsonl").read_text().splitlines() if '"step"' in line]
        steps = [e for e in steps if e["event"] == "step"]
        speeds.append(steps[-1]["tokens_seen"] / steps[-1]["elapsed"])
    return speeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commands", nargs="+", default=["prep", "tag", "classify", "train-lm"],
                        choices=["prep", "tag", "classify", "train-lm"])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    print(f"cpus {os.cpu_count()}, affinity {len(os.sched_getaffinity(0))}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = inputs(work)
        for name in args.commands:
            for r in range(args.repeat):
                alone = rates(name, data, [work / "alone"])[0]
                pair = rates(name, data, [work / "pair0", work / "pair1"])
                shares = [p / alone for p in pair]
                unit = "tok/s" if name == "train-lm" else "runs/s"
                print(f"{name:9s} run {r}: alone {alone:8.3f} {unit} | side by side {pair[0]:8.3f}, {pair[1]:8.3f} "
                      f"| share per job {shares[0]:.2f}, {shares[1]:.2f} (fair: 0.50) | together "
                      f"{sum(shares):.2f}x one alone", flush=True)


if __name__ == "__main__":
    main()
