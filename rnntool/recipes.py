"""Default hyperparameters (torch-free, so --help can show them).

Chosen with the benchmarks in bench/ (see docs/benchmarks.md) to train something
good on a 2-core laptop CPU in minutes.
"""

from __future__ import annotations

# Word vocabularies at least this large get an adaptive softmax by default: with a
# full softmax over 10k words the output layer is most of the arithmetic.
ADAPTIVE_MIN_VOCAB = 5000

LM_DEFAULTS = {
    "char": dict(cell="lstm", layers=2, emb=64, hidden=384, dropout=0.0, bptt=32, batch_size=32,
                 optimizer="adam", clip=1.0, warmup=0.05, schedule="cosine"),
    "word": dict(cell="lstm", layers=2, emb=200, hidden=200, dropout=0.2, bptt=35, batch_size=20,
                 optimizer="sgd", clip=0.25, warmup=0.0, schedule="cosine"),
}
# learning rate by level and optimizer (so --optimizer adam alone gets a sensible rate)
LM_LR = {
    "char": {"adam": 5e-3, "adamw": 5e-3, "sgd": 1.0},
    "word": {"adam": 2e-3, "adamw": 2e-3, "sgd": 20.0},
}


def lm_defaults(level: str, vocab_size: int, given: dict) -> dict:
    """The level's defaults with ``given`` (non-None options) on top, and the
    choices that depend on others resolved: softmax by vocabulary size, tying when
    sizes allow, the learning rate by optimizer."""
    d = dict(LM_DEFAULTS[level])
    d.update({k: v for k, v in given.items() if v is not None})
    if d.get("softmax") is None:
        d["softmax"] = "adaptive" if level == "word" and vocab_size >= ADAPTIVE_MIN_VOCAB else "full"
    if d.get("tie") is None:
        d["tie"] = level == "word" and d["softmax"] == "full" and d["emb"] == d["hidden"]
    if d.get("lr") is None:
        d["lr"] = LM_LR[level][d["optimizer"]]
    return d


def describe_lm_defaults() -> str:
    parts = []
    for level, d in LM_DEFAULTS.items():
        parts.append(
            f"{level}: {d['layers']}x{d['hidden']} {d['cell'].upper()}, emb {d['emb']}, dropout {d['dropout']}, "
            f"bptt {d['bptt']}, batch {d['batch_size']}, {d['optimizer']} lr {LM_LR[level][d['optimizer']]:g}, "
            f"{d['schedule']} schedule"
        )
    return "; ".join(parts)


TAGGER_DEFAULTS = dict(word_emb=100, char_emb=32, char_filters=64, char_kernel=3, case_emb=8, cell="lstm", hidden=128,
                       layers=1, dropout=0.33, crf=False, batch_size=32, lr=2e-3, optimizer="adam", clip=5.0,
                       schedule="cosine", warmup=0.02, word_dropout=0.25, patience=10,
                       min_word_freq=2)


def tagger_defaults() -> dict:
    return dict(TAGGER_DEFAULTS)
