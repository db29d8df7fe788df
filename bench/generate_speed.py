#!/usr/bin/env python
"""Generation speed on the numpy runtime: steady-state tokens/s (sampling included),
time to the first generated character, peak memory, batched vs sequential, and the
peer torch baselines (../shared/peers/torch_step_generation.py) in the same run.

    python bench/generate_speed.py [--model MODEL] [--tokens 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEER = ROOT.parent / "shared" / "peers" / "torch_step_generation.py"
sys.path.insert(0, str(ROOT))


def random_char_lstm(path: Path) -> Path:
    """An untrained 2x256 char LSTM (speed only), if no model is given or bundled."""
    import numpy as np

    from rnntool.arch import LMConfig
    from rnntool.modelfile import save_model
    from rnntool.text.vocab import Vocab

    rng = np.random.default_rng(0)
    vocab = Vocab(["<pad>", "<unk>", "<eos>"] + [chr(c) for c in range(32, 97)])
    cfg = LMConfig(vocab_size=len(vocab), emb=64, hidden=256, layers=2)
    t = {"embedding.weight": rng.normal(size=(len(vocab), 64)), "decoder.weight": rng.normal(size=(len(vocab), 256)) * 0.1,
         "decoder.bias": np.zeros(len(vocab))}
    for k in range(2):
        i = 64 if k == 0 else 256
        t[f"rnn.weight_ih_l{k}"] = rng.uniform(-0.06, 0.06, (1024, i))
        t[f"rnn.weight_hh_l{k}"] = rng.uniform(-0.06, 0.06, (1024, 256))
        t[f"rnn.bias_ih_l{k}"] = np.zeros(1024)
        t[f"rnn.bias_hh_l{k}"] = np.zeros(1024)
    save_model(path, "lm", {k: v.astype("float32") for k, v in t.items()},
               {"config": cfg.to_dict(), "vocab": vocab.to_dict(), "tokenizer": {"level": "char"}})
    return path


def steady_state(model: Path, tokens: int) -> float:
    from rnntool.runtime.generate import GenerationOptions, Generator
    from rnntool.runtime.lm import LMRuntime
    from rnntool.runtime.sampling import SamplingOptions

    lm = LMRuntime.load(model)
    sink = []
    gen = Generator(lm, GenerationOptions(max_tokens=tokens, sampling=SamplingOptions(0.8), seed=1))
    t0 = time.perf_counter()
    gen.generate(["ROMEO:"], on_text=lambda i, piece: sink.append(piece))
    return tokens / (time.perf_counter() - t0)


def batched(model: Path, streams: int, tokens: int) -> tuple[float, float]:
    from rnntool.runtime.generate import GenerationOptions, Generator
    from rnntool.runtime.lm import LMRuntime
    from rnntool.runtime.sampling import SamplingOptions

    lm = LMRuntime.load(model)
    opts = GenerationOptions(max_tokens=tokens, sampling=SamplingOptions(0.8), seed=1)
    prompts = [f"prompt {i}:" for i in range(streams)]
    t0 = time.perf_counter()
    Generator(lm, opts).generate(prompts)
    together = streams * tokens / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for p in prompts:
        Generator(lm, opts).generate([p])
    one_by_one = streams * tokens / (time.perf_counter() - t0)
    return together, one_by_one


def first_char(model: Path | None, runs: int = 5) -> tuple[float, float]:
    """Seconds from process start to the first generated character, and peak RSS (MB)."""
    cmd = [str(Path(sys.executable).with_name("rnntool")), "generate", "--prime", "ROMEO:", "-n", "300", "--seed", "1", "-q"]
    if model is not None:
        cmd += ["-m", str(model)]
    times, peak = [], 0.0
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env={**os.environ, "XDG_STATE_HOME": "/nonexistent"})
        got = b""
        while len(got) <= len("ROMEO:"):
            got += proc.stdout.read(1)
        times.append(time.perf_counter() - t0)
        proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        peak = max(peak, usage.ru_maxrss / 1024)
    times.sort()
    return times[len(times) // 2], peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--tokens", type=int, default=20000)
    args = parser.parse_args()
    from rnntool.kinds import KINDS

    BUNDLED_LM = KINDS["lm"].default_bundled.path

    model = args.model or (BUNDLED_LM if BUNDLED_LM.exists() else None)
    label = str(model) if model else "untrained 2x256 char LSTM"
    tmp = None
    if model is None:
        import tempfile

        tmp = tempfile.TemporaryDirectory()
        model = random_char_lstm(Path(tmp.name) / "lstm.safetensors")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, python {platform.python_version()}; model: {label}")
    rates = sorted(steady_state(model, args.tokens) for _ in range(3))
    print(f"steady-state streaming, 1 stream, temperature 0.8: {rates[1]:,.0f} tokens/s (median of 3)")
    ttfc, peak = first_char(None if args.model is None and tmp is None else model)
    print(f"process start -> first generated character: {ttfc * 1000:.0f} ms (median of 5); peak RSS {peak:.0f} MB")
    together, alone = batched(model, 64, 300)
    print(f"64 prompts x 300 tokens: batched {together:,.0f} tokens/s, one at a time {alone:,.0f} tokens/s "
          f"({together / alone:.1f}x)")
    if PEER.exists():
        out = subprocess.run([sys.executable, str(PEER), "--hidden", "256"], capture_output=True, text=True)
        peer = json.loads(out.stdout)
        print(f"peer torch nn.LSTM stepping: {peer['torch_step_tokens_per_s']:,} tokens/s; re-run prefix at 300 tokens: "
              f"{peer['rerun_prefix_tokens_per_s_at_300']:,} tokens/s  ->  ours {rates[1] / peer['torch_step_tokens_per_s']:.1f}x "
              "torch stepping")
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
