"""Default hyperparameters per token level (torch-free, so --help can show them).

Chosen by the benchmarks in bench/ (see docs/benchmarks.md) to train something
good on a 2-core laptop CPU in minutes.
"""

from __future__ import annotations

LM_DEFAULTS = {
    "char": dict(cell="lstm", layers=2, emb=64, hidden=512, dropout=0.0, tie=False, softmax="full",
                 bptt=128, batch_size=32, lr=2e-3, optimizer="adam", clip=1.0, schedule="cosine"),
    "word": dict(cell="lstm", layers=2, emb=256, hidden=256, dropout=0.3, tie=True, softmax="full",
                 bptt=35, batch_size=32, lr=2e-3, optimizer="adam", clip=1.0, schedule="cosine"),
}


def lm_defaults(level: str) -> dict:
    return dict(LM_DEFAULTS[level])


def describe_lm_defaults() -> str:
    parts = []
    for level, d in LM_DEFAULTS.items():
        tie = "tied" if d["tie"] else "untied"
        parts.append(
            f"{level}: {d['layers']}x{d['hidden']} {d['cell'].upper()}, emb {d['emb']} ({tie}), dropout {d['dropout']}, "
            f"bptt {d['bptt']}, batch {d['batch_size']}, {d['optimizer']} lr {d['lr']}, {d['schedule']} schedule"
        )
    return "; ".join(parts)


TAGGER_DEFAULTS = dict(word_emb=100, char_emb=32, char_filters=64, char_kernel=3, case_emb=8, cell="lstm", hidden=128,
                       layers=1, dropout=0.33, crf=False, batch_size=32, lr=2e-3, optimizer="adam", clip=5.0,
                       schedule="cosine", warmup=0.02, word_dropout=0.25, patience=4)


def tagger_defaults() -> dict:
    return dict(TAGGER_DEFAULTS)
