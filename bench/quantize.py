#!/usr/bin/env python
"""What int8 and float16 weights (rnntool quantize) cost each bundled model, and what they save.

    python bench/quantize.py [--weights int8 fp16] [--loads 5]

For every bundled model: the file's bytes before and after, its metric on held-out data with
float32 and with the quantized weights (rnntool.quantize's own measurement: a tagger's
accuracy on the EWT test set, a classifier's on its test split, a language model's loss on
the tail of its text that training held out for validation), whether that is within the
issue's bounds (0.1 point; 0.01 nats per token), and the median time to load each file.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import rnntool

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def tail(source: Path, fraction: float, out: Path) -> Path:
    """The last ``fraction`` of a text's characters, from a line start: the part train-lm held out."""
    text = source.read_text(encoding="utf-8")
    start = text.find("\n", int(len(text) * (1 - fraction))) + 1
    out.write_text(text[start:], encoding="utf-8")
    return out


def held_out(name: str, tmp: Path) -> tuple[Path, dict] | None:
    ewt = DATA / "ud-en-ewt" / "en_ewt-ud-test.conllu"
    sets = {
        "shakespeare-char": lambda: (tail(DATA / "tinyshakespeare" / "input.txt", 0.1, tmp / "shakespeare.txt"), {}),
        "ko-novel": lambda: (tail(DATA / "korean-text" / "koconovel.txt", 0.05, tmp / "koconovel.txt"), {}),
        "en-ewt-upos": lambda: (ewt, {}),
        "en-ewt-upos-accurate": lambda: (ewt, {}),
        "en-ewt-xpos": lambda: (ewt, {"column": "xpos"}),
        "sms-spam": lambda: (DATA / "sms-spam" / "splits" / "test.tsv", {}),
        "ko-sentiment": lambda: (DATA / "nsmc" / "ratings_test.txt", {"text_col": "document", "label_col": "label"}),
    }
    try:
        return sets[name]()
    except (KeyError, FileNotFoundError):
        return None


def load_seconds(path: Path, loads: int) -> float:
    times = []
    for _ in range(loads):
        t0 = time.perf_counter()
        rnntool.load(path)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", nargs="+", default=["int8", "fp16"])
    parser.add_argument("--loads", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"python {platform.python_version()}, rnntool {rnntool.__version__}")
    print("| model | weights | bytes | metric on held-out data: float32 -> quantized | cost (worse: +) | within | load (median) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in rnntool.bundled_names():
            found = held_out(name, tmp)
            if found is None:
                print(f"| {name} | - | - | no held-out data in ../shared/data | - | - | - |")
                continue
            data, options = found
            original = rnntool.info(name).path
            base_load = load_seconds(original, args.loads)
            for weights in args.weights:
                try:
                    q = rnntool.quantize(name, tmp / f"{name}.{weights}.safetensors", weights=weights, dev=str(data),
                                         **options)
                except rnntool.InputError as e:  # past the bound: nothing written, and the error says by how much
                    print(f"| {name} | {weights} | - | refused: {e} | - | no | - |")
                    continue
                m = q.measured
                scale, unit = (1, " nats") if m["metric"] == "loss" else (100, "")
                print(f"| {name} | {weights} | {q.bytes_before:,} -> {q.bytes_after:,} "
                      f"({q.bytes_after / q.bytes_before:.0%}) | {m['metric']} {scale * m['fp32']:.4f} -> "
                      f"{scale * m['quantized']:.4f} | {scale * m['cost']:+.4f}{unit} | "
                      f"{'yes' if m['within'] else 'no'} | {1000 * base_load:.0f} -> "
                      f"{1000 * load_seconds(q.path, args.loads):.0f} ms |")


if __name__ == "__main__":
    main()
