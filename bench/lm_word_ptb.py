#!/usr/bin/env python
"""Word LM on the Penn Treebank (Mikolov split): quality within a time budget,
and training throughput beside a PyTorch-example-style baseline.

    python bench/lm_word_ptb.py --budget 300 [-- extra train-lm options]
    python bench/lm_word_ptb.py --throughput        # tokens/s: ours vs the example's loop, same run

The quality run is what a user would type: `rnntool prep` (whitespace tokens,
the three official files as train/valid/test), `rnntool train-lm` on the prepared
corpus with --max-time, then `rnntool eval-lm` on ptb.test.txt as one stream.
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
DATA = ROOT.parent / "shared" / "data" / "ptb-lm"


def rnntool(*args: str, env=None) -> str:
    out = subprocess.run([sys.executable, "-m", "rnntool", *args], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(out.stderr)
    return out.stdout


def quality(budget: float, extra: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "XDG_STATE_HOME": tmp}
        corpus = Path(tmp) / "ptb.corpus"
        rnntool("prep", str(DATA / "ptb.train.txt"), "--valid", str(DATA / "ptb.valid.txt"), "--test",
                str(DATA / "ptb.test.txt"), "--level", "word", "--tokenizer", "whitespace", "-o", str(corpus), "-q", env=env)
        model, log = Path(tmp) / "ptb.lm.safetensors", Path(tmp) / "log.jsonl"
        t0 = time.perf_counter()
        summary = json.loads(rnntool("train-lm", str(corpus), "--max-time", str(budget), "-o", str(model), "--log",
                                     str(log), "--json", "-q", *extra, env=env))
        wall = time.perf_counter() - t0
        events = [json.loads(l) for l in log.read_text().splitlines()]
        steps = [e for e in events if e["event"] == "step"]
        evals = [e for e in events if e["event"] == "eval"]
        test = json.loads(rnntool("eval-lm", str(model), str(DATA / "ptb.test.txt"), "--json", env=env))
        valid = json.loads(rnntool("eval-lm", str(model), str(DATA / "ptb.valid.txt"), "--json", env=env))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, python {platform.python_version()}")
    print(f"command: rnntool train-lm ptb.corpus --max-time {budget:g} {' '.join(extra)}")
    print(f"wall {wall:.0f} s, training {summary['train_seconds']:.0f} s, {summary['epochs']:.2f} epochs, "
          f"{steps[-1]['tokens_seen'] / steps[-1]['elapsed']:,.0f} tokens/s, {summary['params']:,} params")
    print("curve (elapsed s -> valid ppl):")
    for e in evals:
        print(f"  {e['elapsed']:7.1f}  {e['valid_ppl']:.1f}  (epoch {e['epoch']:.2f})")
    print(f"trainer (batched streams): valid ppl {summary['valid']['ppl']:.1f}, test ppl {summary['test']['ppl']:.1f}")
    print(f"eval-lm (one stream, numpy): valid ppl {valid['ppl']:.1f}, test ppl {test['ppl']:.1f}")


def throughput(seconds: float, hidden: int) -> None:
    """Tokens/s of the PyTorch word_language_model example's loop (its defaults: 2x200 LSTM,
    full softmax, SGD lr 20, batch 20, bptt 35, dropout 0.2, clip 0.25, fp32) and of ours."""
    import numpy as np
    import torch
    from torch import nn

    sys.path.insert(0, str(ROOT))
    from rnntool.text.corpus import PrepOptions, prepare_corpus
    from rnntool.text.tokenize import TokenizerSettings

    corpus = prepare_corpus([str(DATA / "ptb.train.txt")], PrepOptions(TokenizerSettings("word", "whitespace"), valid_frac=0.0))
    ids = torch.from_numpy(np.asarray(corpus.splits["train"], dtype=np.int64))
    V = len(corpus.vocab)

    class ExampleModel(nn.Module):  # the example's RNNModel, LSTM, untied
        def __init__(self):
            super().__init__()
            self.drop = nn.Dropout(0.2)
            self.encoder = nn.Embedding(V, hidden)
            self.rnn = nn.LSTM(hidden, hidden, 2, dropout=0.2)
            self.decoder = nn.Linear(hidden, V)

        def forward(self, x, h):
            out, h = self.rnn(self.drop(self.encoder(x)), h)
            return self.decoder(self.drop(out)), h

    torch.manual_seed(0)
    model = ExampleModel()
    data = ids[: len(ids) // 20 * 20].view(20, -1).t()
    h = None
    tokens, t0 = 0, time.perf_counter()
    i = 0
    while time.perf_counter() - t0 < seconds:
        x, y = data[i: i + 35], data[i + 1: i + 36]
        h = None if h is None else tuple(t.detach() for t in h)
        model.zero_grad()
        logits, h = model(x, h)
        loss = nn.functional.cross_entropy(logits.view(-1, V), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-20)
        tokens += y.numel()
        i += 35
    example = tokens / (time.perf_counter() - t0)

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "XDG_STATE_HOME": tmp}
        prepared = Path(tmp) / "ptb.corpus"
        corpus.save(prepared)
        log = Path(tmp) / "log.jsonl"
        rnntool("train-lm", str(prepared), "-o", str(Path(tmp) / "m.safetensors"), "--valid", str(DATA / "ptb.valid.txt"),
                "--emb", str(hidden), "--hidden", str(hidden), "--max-time", str(seconds), "--log", str(log), "-q",
                env=env)
        steps = [json.loads(l) for l in log.read_text().splitlines() if '"event": "step"' in l]
        ours = (steps[-1]["tokens_seen"] - steps[4]["tokens_seen"]) / (steps[-1]["elapsed"] - steps[4]["elapsed"])
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus; hidden {hidden}, {seconds:g} s each")
    print(f"PyTorch example loop: {example:,.0f} tokens/s")
    print(f"rnntool train-lm (defaults for word level): {ours:,.0f} tokens/s  ->  {ours / example:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=300.0)
    parser.add_argument("--throughput", action="store_true")
    parser.add_argument("--seconds", type=float, default=60.0, help="--throughput: seconds per contender")
    parser.add_argument("--hidden", type=int, default=200)
    parser.add_argument("extra", nargs="*")
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"missing {DATA}")
    if args.throughput:
        throughput(args.seconds, args.hidden)
    else:
        quality(args.budget, args.extra)


if __name__ == "__main__":
    main()
