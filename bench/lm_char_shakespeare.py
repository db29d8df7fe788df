#!/usr/bin/env python
"""Char LM on tiny-shakespeare under a wall-clock budget (issue: valid loss <= 1.50 in 131 s).

Runs `rnntool train-lm` as a user would (last 10% of the text as validation,
as nanoGPT does), then reads the run's JSONL log for the validation curve.

    python bench/lm_char_shakespeare.py --budget 131 [-- extra train-lm options]
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
DATA = ROOT.parent / "shared" / "data" / "tinyshakespeare" / "input.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=131.0, help="seconds of training")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("extra", nargs="*", help="extra train-lm options (after --)")
    args = parser.parse_args()
    if not args.data.exists():
        sys.exit(f"missing {args.data}")
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "ts.lm.safetensors"
        log = Path(tmp) / "log.jsonl"
        cmd = [sys.executable, "-m", "rnntool", "train-lm", str(args.data), "--level", "char", "--valid-frac", "0.1",
               "--max-time", str(args.budget), "-o", str(model), "--log", str(log), "--json", "-q", *args.extra]
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "XDG_STATE_HOME": tmp})
        wall = time.perf_counter() - t0
        if out.returncode != 0:
            sys.exit(out.stderr)
        summary = json.loads(out.stdout)
        evals = [json.loads(l) for l in log.read_text().splitlines() if '"event": "eval"' in l]
        steps = [json.loads(l) for l in log.read_text().splitlines() if '"event": "step"' in l]
        tok_s = steps[-1]["tokens_seen"] / steps[-1]["elapsed"] if steps else 0
    print(f"machine: {platform.machine()} {os.cpu_count()} cpus, python {platform.python_version()}")
    print(f"command: rnntool train-lm input.txt --level char --valid-frac 0.1 --max-time {args.budget:g} {' '.join(args.extra)}")
    print(f"wall {wall:.1f} s (process), training {summary['train_seconds']:.1f} s, {summary['epochs']:.2f} epochs, "
          f"{tok_s:,.0f} tokens/s, {summary['params']:,} params")
    print("curve (elapsed s -> valid loss nats/char):")
    for e in evals:
        print(f"  {e['elapsed']:7.1f}  {e['valid_loss']:.4f}  (epoch {e['epoch']:.2f})")
    print(f"best valid loss {summary['valid']['loss']:.4f} nats/char ({summary['valid']['bpc']:.4f} bpc)")


if __name__ == "__main__":
    main()
