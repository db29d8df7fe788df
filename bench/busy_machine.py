#!/usr/bin/env python
"""Training beside other work on a small machine (issue #29, section 2).

    python bench/busy_machine.py [--seconds 30] [--variants default passive]

`rnntool train-lm` on Alice (character level, defaults, --max-time S) alone, beside one
busy process (`python -c 'while True: pass'`), and beside a stream of short rnntool
commands (`rnntool classify -m sms-spam` on one line, one after the other). Speed is
tokens/s from the run's --log (tokens seen / training seconds at the last step). Each
variant is an environment for the training run:

- default: what rnntool does by itself (since 2026-12-03: torch's thread count follows the
  cores other processes leave free, rnntool.parallel.ThreadGovernor);
- fixed-threads: RNNTOOL_ADAPT_THREADS=0, torch's threads as it starts them (what rnntool
  did before);
- passive: OMP_WAIT_POLICY=PASSIVE (OpenMP threads sleep at once when they wait);
- active: OMP_WAIT_POLICY=ACTIVE (they spin: the behaviour the issue measured);
- one-thread: OMP_NUM_THREADS=1;
- spin-1k, spin-10k, spin-100k: GOMP_SPINCOUNT (how long a waiting OpenMP thread spins
  before it sleeps; libgomp's default is 300,000 iterations).

The ratio that matters is busy / idle within one variant, and the variants side by side.
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

ROOT = Path(__file__).resolve().parent.parent
ALICE = ROOT.parent / "shared" / "data" / "alice" / "alice.txt"
VARIANTS = {"default": {}, "fixed-threads": {"RNNTOOL_ADAPT_THREADS": "0"}, "passive": {"OMP_WAIT_POLICY": "PASSIVE"}, "active": {"OMP_WAIT_POLICY": "ACTIVE"},
            "one-thread": {"OMP_NUM_THREADS": "1"}, "spin-1k": {"GOMP_SPINCOUNT": "1000"},
            "spin-10k": {"GOMP_SPINCOUNT": "10000"}, "spin-100k": {"GOMP_SPINCOUNT": "100000"}}


def train_speed(seconds: float, env: dict, work: Path) -> float:
    log = work / "run.jsonl"
    log.unlink(missing_ok=True)
    subprocess.run([sys.executable, "-m", "rnntool", "train-lm", str(ALICE), "--max-time", str(seconds), "--seed", "1",
                    "--log", str(log), "-o", str(work / "alice.safetensors"), "-q"],
                   env={**os.environ, **env}, check=True, stdout=subprocess.DEVNULL)
    steps = [json.loads(line) for line in log.read_text().splitlines() if '"event": "step"' in line]
    return steps[-1]["tokens_seen"] / steps[-1]["elapsed"]


class Busy:
    def __init__(self, kind: str):
        self.kind = kind

    def __enter__(self):
        if self.kind == "loop":
            self.process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        else:  # a stream of short commands
            script = ("while true; do echo 'free prize, call now' | "
                      f"{sys.executable} -m rnntool classify -m sms-spam - > /dev/null; done")
            self.process = subprocess.Popen(["bash", "-c", script], start_new_session=True)
        time.sleep(1.0)
        return self

    def __exit__(self, *exc):
        if self.kind == "loop":
            self.process.kill()
        else:
            os.killpg(self.process.pid, 9)
        self.process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args()
    print(f"# {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M')}, train-lm alice.txt --max-time {args.seconds:g}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in args.variants:
            env = VARIANTS[name]
            idle = train_speed(args.seconds, env, work)
            with Busy("loop"):
                loop = train_speed(args.seconds, env, work)
            with Busy("commands"):
                commands = train_speed(args.seconds, env, work)
            print(f"{name:>10}: idle {idle:,.0f} tok/s; beside a busy loop {loop:,.0f} ({loop / idle:.2f}x); "
                  f"beside short commands {commands:,.0f} ({commands / idle:.2f}x)", flush=True)


if __name__ == "__main__":
    main()
