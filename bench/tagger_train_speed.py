#!/usr/bin/env python
"""Tagger training throughput on UD English-EWT (tokens per second of training).

    python bench/tagger_train_speed.py [CONFIG ...]
    python bench/tagger_train_speed.py '{}' '{"layers": 2, "hidden": 192, "char_filters": 96}'

CONFIG: train-tagger options as a JSON object (the defaults when none is given).

Each configuration trains 890 steps (about two epochs of 450 batches); the rate is
taken over steps 460-890, the second epoch, so that one-off costs (reading the data,
the first shapes seen) and the end-of-epoch dev evaluation are left out. The machine
is noisy: compare code versions by alternating runs in one session, not across machines.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EWT = ROOT.parent / "shared" / "data" / "ud-en-ewt"
WINDOW = (460, 890)  # the second epoch, dev evaluation at step 450 excluded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", nargs="*", default=["{}"], help="train-tagger options as JSON objects")
    args = parser.parse_args()
    from rnntool.train.tagger import train_tagger

    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, python {platform.python_version()}")
    for spec in args.configs:
        marks = {}

        def on_event(event: dict) -> None:
            if event["event"] == "step" and event["step"] in WINDOW:
                marks[event["step"]] = (time.perf_counter(), event["tokens_seen"])

        with tempfile.TemporaryDirectory() as tmp:
            train_tagger(str(EWT / "en_ewt-ud-train.conllu"), Path(tmp) / "t.safetensors",
                         dev_spec=str(EWT / "en_ewt-ud-dev.conllu"), on_event=on_event,
                         train_options={"max_steps": WINDOW[1], "seed": 1, "eval_every": 10**6, **json.loads(spec)})
        (t0, n0), (t1, n1) = marks[WINDOW[0]], marks[WINDOW[1]]
        print(f"{spec}: {(n1 - n0) / (t1 - t0):,.0f} training tokens/s", flush=True)


if __name__ == "__main__":
    main()
