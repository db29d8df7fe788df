"""Default hyperparameters per model kind, and the configurations they resolve to.

Chosen with the benchmarks in bench/ (see docs/benchmarks.md) to train something
good on a 2-core laptop CPU in minutes. Torch-free, so ``--help`` can show them.
A recipe takes the user's options (``None`` = not given), refuses keys its
configuration does not have, and settles the choices that depend on others.

This is the one place defaults live: the train-* commands' --help brackets are
made from what these recipes resolve to (``default_text``), and the model
configuration dataclasses' field defaults equal a recipe (tests/test_options.py
holds both).
"""

from __future__ import annotations

import functools

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
# Every bracketed default in a train-* --help is made here, from the configurations the recipes
# above resolve to when no option is given (tests/test_options.py parses the brackets back and
# compares them with those configurations). A bracket holds a value ("[64]", "[yes]"), one value
# per level ("[char 384, word 200]"; the classifier's "[64; 0 at char level]"), or, for a choice
# made from the data when the run starts, "auto: " and what the choice depends on.

DEV_FRAC = 0.1  # train-tagger, train-classifier without --dev: this fraction of TRAIN is held out
VALID_FRAC = 0.1  # train-lm on text without --valid: this fraction of INPUT's tokens (its tail) validates
EVAL_EVERY_MAX = 2000  # without --eval-every: validate every epoch, and at least every this many steps

# Chosen when the run starts, from the data (or from options whose defaults are so chosen).
RUN_TIME_DEFAULTS = {
    ("lm", "softmax"): f"auto: adaptive for word vocabularies of {ADAPTIVE_MIN_VOCAB}+, else full",
    ("lm", "tie"): "auto: at word level, when sizes allow",
    **{(kind, "eval_every"): f"auto: min(steps per epoch, {EVAL_EVERY_MAX})" for kind in ("lm", "tagger", "classifier")},
}
LEVELS_SHOWN = {"lm": ("char", "word"), "tagger": (None,), "classifier": ("word", "char")}
PROBE_VOCAB = 100  # language-model defaults are read at this size; those that depend on it are run-time ones


def _field_defaults(cls) -> dict:
    from dataclasses import MISSING, fields

    return {f.name: f.default for f in fields(cls) if f.default is not MISSING}


def resolved_defaults(kind: str, level: str | None = None) -> dict:
    """Every setting of a ``kind`` model and its training run (at ``level``) as the recipes
    resolve them when no option is given; the configuration dataclass fills the rest."""
    return dict(_resolved_defaults(kind, level))


@functools.cache  # --help texts read it for every option of every train-* command
def _resolved_defaults(kind: str, level: str | None) -> dict:
    from dataclasses import asdict

    if kind == "lm":
        model, train = lm_configs(level, PROBE_VOCAB, None, None)
        return {**asdict(model), **asdict(train)}
    if kind == "tagger":
        from rnntool.tagging import TaggerConfig

        return {**_field_defaults(TaggerConfig), **tagger_model_options(None), **asdict(tagger_train_config(None))}
    if kind == "classifier":
        from rnntool.classification import ClassifierConfig

        return {**_field_defaults(ClassifierConfig), **classifier_model_options(None, level),
                **asdict(classifier_train_config(None))}
    raise KeyError(f"no recipe for {kind!r}")


def _fmt(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _lm_lr_text() -> str:
    """The language models' learning rate, by level and optimizer (the level's own optimizer first)."""
    from rnntool.config import OPTIMIZERS

    parts = []
    for level in LEVELS_SHOWN["lm"]:
        own = LM_TRAIN[level]["optimizer"]
        rates: dict[float, list[str]] = {}
        for optimizer in sorted(OPTIMIZERS, key=lambda o: o != own):
            rates.setdefault(lm_configs(level, PROBE_VOCAB, None, {"optimizer": optimizer})[1].lr, []).append(optimizer)
        parts.append(f"{level}: " + ", ".join(f"{'/'.join(names)} {_fmt(lr)}" for lr, names in rates.items()))
    return "; ".join(parts)


@functools.cache  # typer reads each train-* signature more than once while building the CLI
def default_text(kind: str, option: str) -> str:
    """The default of option ``option`` (its parameter name) of train-``kind``, as its --help shows
    it in brackets. An option no recipe or configuration has a default for raises KeyError."""
    if (kind, option) in RUN_TIME_DEFAULTS:
        return RUN_TIME_DEFAULTS[kind, option]
    if kind == "lm" and option == "lr":
        return _lm_lr_text()
    values = {level: resolved_defaults(kind, level)[option] for level in LEVELS_SHOWN[kind]}
    if None in values.values():
        raise KeyError(f"train-{kind} --{option.replace('_', '-')} has no default to show")
    shown = {level: _fmt(v) for level, v in values.items()}
    first = next(iter(shown.values()))
    if option == "epochs" and len(set(shown.values())) == 1:
        return f"{first}, or unbounded with --max-time/--max-steps"
    if len(set(shown.values())) == 1:
        return first
    if kind == "classifier":  # word level is the classifier's default
        return f"{shown['word']}; {shown['char']} at char level"
    return ", ".join(f"{level} {v}" for level, v in shown.items())


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


# --- generation (rnntool generate, LanguageModel.generate) -------------------------------------

GENERATION = dict(max_tokens=200, temperature=0.8, top_k=0, top_p=1.0)
