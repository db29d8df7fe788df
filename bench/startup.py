#!/usr/bin/env python
"""Start-up cost of the commands that must stay light: wall time (median of N runs)
and whether torch was imported (python -X importtime).

    python bench/startup.py [--runs 9]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = [["--help"], ["prep", "--help"], ["train-lm", "--help"], ["generate", "--help"], ["tag", "--help"],
            ["classify", "--help"], ["plot", "--help"], ["models"], ["info", "sms-spam"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    exe = str(Path(sys.executable).with_name("rnntool"))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, python {platform.python_version()}")
    for cmd in COMMANDS:
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            subprocess.run([exe, *cmd], capture_output=True, check=True)
            times.append(time.perf_counter() - t0)
        times.sort()
        imports = subprocess.run([sys.executable, "-X", "importtime", "-m", "rnntool", *cmd], capture_output=True,
                                 text=True).stderr
        torch = any(line.rstrip().endswith("| torch") for line in imports.splitlines())
        print(f"rnntool {' '.join(cmd):<20} median {1000 * times[len(times) // 2]:5.0f} ms   torch imported: {torch}")


if __name__ == "__main__":
    main()
