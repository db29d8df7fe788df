"""Default hyperparameters per model kind, and the configurations they resolve to.

Chosen with the benchmarks in bench/ (see docs/benchmarks.md) to train something
good on a 2-core laptop CPU in minutes. Torch-free, so ``--help`` can show them.
A recipe takes the user's options (``None`` = not given), refuses keys its
configuration does not have, and settles the choices that depend on others.
"""

from __future__ import annotations

from rnntool.arch import LMConfig
from rnntool.config import ClassifierTrainConfig, LMTrainConfig, TaggerTrainConfig, check_keys

# Word vocabularies at least this large get an adaptive softmax by default: with a
# full softmax over 10k words the output layer is most of the arithmetic.
ADAPTIVE_MIN_VOCAB = 5000

LM_MODEL = {
    "char": dict(cell="lstm", layers=2, emb=64, hidden=384, dropout=0.0),
    "word": dict(cell="lstm", layers=2, emb=200, hidden=200, dropout=0.2),
}
LM_TRAIN = {
    "char": dict(bptt=32, batch_size=32, optimizer="adam", clip=1.0, warmup=0.05, schedule="cosine", patience=3),
    "word": dict(bptt=35, batch_size=20, optimizer="sgd", clip=0.25, warmup=0.0, schedule="cosine", patience=3),
}
# learning rate by level and optimizer (so --optimizer adam alone gets a sensible rate)
LM_LR = {
    "char": {"adam": 5e-3, "adamw": 5e-3, "sgd": 1.0},
    "word": {"adam": 2e-3, "adamw": 2e-3, "sgd": 20.0},
}
LM_EPOCHS = 10  # when no budget is given

TAGGER_MODEL = dict(word_emb=100, char_emb=32, char_filters=64, char_kernel=3, case_emb=8, cell="lstm", hidden=128,
                    layers=1, dropout=0.33, crf=False)
TAGGER_TRAIN = dict(batch_size=32, lr=2e-3, optimizer="adam", clip=5.0, schedule="cosine", warmup=0.02,
                    word_dropout=0.25, patience=10, min_word_freq=2)
TAGGER_EPOCHS = 20


CLASSIFIER_MODEL = dict(word_emb=100, char_emb=32, char_filters=64, char_kernel=3, case_emb=8, cell="lstm",
                        hidden=128, layers=1, dropout=0.4, bidirectional=True, pool="max", max_length=400)
CLASSIFIER_TRAIN = dict(batch_size=32, lr=2e-3, optimizer="adam", clip=5.0, schedule="cosine", warmup=0.02,
                        word_dropout=0.25, patience=5, min_word_freq=2)
CLASSIFIER_EPOCHS = 10


def _budget(train: dict, epochs: int) -> dict:
    if train.get("epochs") is None and train.get("max_time") is None and train.get("max_steps") is None:
        train["epochs"] = epochs
    return train


def lm_configs(level: str, vocab_size: int, model_options: dict | None,
               train_options: dict | None) -> tuple[LMConfig, LMTrainConfig]:
    """The level's defaults with the given options on top, and the choices that depend on
    others resolved: softmax by vocabulary size, tying when sizes allow, lr by optimizer."""
    model = {**LM_MODEL[level], **check_keys(LMConfig, model_options, "language-model")}
    train = {**LM_TRAIN[level], **check_keys(LMTrainConfig, train_options, "training")}
    model.pop("vocab_size", None)
    model.setdefault("softmax", "adaptive" if level == "word" and vocab_size >= ADAPTIVE_MIN_VOCAB else "full")
    model.setdefault("tie", level == "word" and model["softmax"] == "full" and model["emb"] == model["hidden"])
    train.setdefault("lr", LM_LR[level][train["optimizer"]])
    return LMConfig(vocab_size=vocab_size, **model), LMTrainConfig(**_budget(train, LM_EPOCHS))


def tagger_train_config(train_options: dict | None) -> TaggerTrainConfig:
    return TaggerTrainConfig(**_budget({**TAGGER_TRAIN, **check_keys(TaggerTrainConfig, train_options, "training")},
                                       TAGGER_EPOCHS))


def classifier_train_config(train_options: dict | None) -> ClassifierTrainConfig:
    given = check_keys(ClassifierTrainConfig, train_options, "training")
    return ClassifierTrainConfig(**_budget({**CLASSIFIER_TRAIN, **given}, CLASSIFIER_EPOCHS))


def classifier_model_options(model_options: dict | None, level: str) -> dict:
    """Character-level classifiers read one character per token: no character CNN."""
    from rnntool.classification import ClassifierConfig

    defaults = {**CLASSIFIER_MODEL, **({"char_filters": 0} if level == "char" else {})}
    return {**defaults, **check_keys(ClassifierConfig, model_options, "classifier")}


def tagger_model_options(model_options: dict | None) -> dict:
    from rnntool.tagging import TaggerConfig

    return {**TAGGER_MODEL, **check_keys(TaggerConfig, model_options, "tagger")}


# --- defaults as --help shows them ----------------------------------------------------------

def _fmt(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value).lower() if isinstance(value, bool) else str(value)


def default_text(kind: str, option: str) -> str | None:
    """The default of a shared option for one kind, as --help shows it ([...])."""
    if kind == "lm":
        if option == "lr":
            return "char: adam 5e-3; word: sgd 20, adam 2e-3"
        values = {level: {**LM_MODEL[level], **LM_TRAIN[level]}.get(option) for level in LM_MODEL}
        if option == "epochs":
            return f"{LM_EPOCHS}, or unbounded with --max-time/--max-steps"
        if values["char"] is None:
            return None
        if values["char"] == values["word"]:
            return _fmt(values["char"])
        return f"char {_fmt(values['char'])}, word {_fmt(values['word'])}"
    if kind == "classifier":
        if option == "epochs":
            return f"{CLASSIFIER_EPOCHS}, or unbounded with --max-time/--max-steps"
        value = {**CLASSIFIER_MODEL, **CLASSIFIER_TRAIN}.get(option)
        return None if value is None else _fmt(value)
    if kind == "tagger":
        if option == "epochs":
            return f"{TAGGER_EPOCHS}, or unbounded with --max-time/--max-steps"
        value = {**TAGGER_MODEL, **TAGGER_TRAIN}.get(option)
        return None if value is None else _fmt(value)
    return None


def describe_lm_defaults() -> str:
    parts = []
    for level, d in LM_MODEL.items():
        t = LM_TRAIN[level]
        parts.append(
            f"{level}: {d['layers']}x{d['hidden']} {d['cell'].upper()}, emb {d['emb']}, dropout {d['dropout']}, "
            f"bptt {t['bptt']}, batch {t['batch_size']}, {t['optimizer']} lr {LM_LR[level][t['optimizer']]:g}, "
            f"{t['schedule']} schedule"
        )
    return "; ".join(parts)
