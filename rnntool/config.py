"""Training configuration as typed data, and the choice sets every layer shares.

Torch-free: the CLI builds its option enums from the choice tuples here, and
``--help`` must not import torch. Model architectures live beside the code that
reads them (``arch.LMConfig``, ``tagging.TaggerConfig``); what every training run
shares lives here.

Options reach a configuration through ``check_keys(cls, options, what)``: ``None``
means "not given", and a key the dataclass does not have raises instead of being
dropped. The recipes (``rnntool.recipes``) put the checked options on top of a
kind's defaults; a resumed run takes its checkpoint's configuration with the few
options ``resumed`` lets it change.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TypeVar

from rnntool.errors import InputError, OptionError

# --- choice sets (the CLI's enums are made from these) ------------------------------------
CELLS = ("lstm", "gru", "rnn", "rnn-relu")
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("cosine", "plateau", "constant")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda", "mps")
SOFTMAXES = ("full", "adaptive")
DECODE_ERRORS = ("strict", "replace")
LEVELS = ("char", "word")
SUBWORD_TOKENIZERS = ("bpe", "unigram")  # SentencePiece pieces learned from the training text (the [subword] extra)
SUBWORD_VOCAB_SIZE = 8000  # pieces when --vocab-size is not given (a soft limit: a small text gets fewer)
WORD_TOKENIZERS = ("treebank", "whitespace", "kiwi") + SUBWORD_TOKENIZERS  # kiwi: Korean morphemes (the [ko] extra)
SPLIT_MODES = ("tail", "random")
TAGGED_FORMATS = ("auto", "conllu", "conll", "wordtag")
TAG_INPUTS = ("auto", "text", "tokens", "conll", "conllu")
TAG_OUTPUTS = ("wordtag", "tsv", "conllu", "jsonl")
CLASS_WEIGHTS = ("none", "balanced")
LABELLED_FORMATS = ("auto", "tsv", "fasttext", "csv", "jsonl")
CLASSIFY_INPUTS = ("auto", "text", "tsv", "fasttext", "csv", "jsonl")
CLASSIFY_OUTPUTS = ("tsv", "jsonl")

C = TypeVar("C")


class ConfigError(InputError):
    """An option that the configuration does not have, or a value it cannot take."""


def field_names(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def check_keys(cls, options: dict | None, what: str) -> dict:
    """The given (non-None) options, after checking every key belongs to ``cls``."""
    options = options or {}
    known = field_names(cls)
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(f"unknown {what} option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
                          f"(known: {', '.join(sorted(known))})")
    return {k: v for k, v in options.items() if v is not None}


def choice(value: str, choices: tuple[str, ...], option: str) -> str:
    if value not in choices:
        raise ConfigError(f"unknown {option} {value!r}; use one of: {', '.join(choices)}")
    return value


@dataclass
class TrainConfig:
    """What every training run shares (the loop reads nothing else).

    The defaults a train-* command (and its --help) uses are the recipes'
    (``rnntool.recipes``), which set every field that differs by kind or level;
    the field defaults here and in the subclasses are only the fallback for a
    configuration made directly, and for fields no recipe sets (seed, device, ...).
    """

    epochs: int | None = None  # None: as many as --max-time / --max-steps allow
    max_time: float | None = None  # seconds of training (validation included)
    max_steps: int | None = None
    batch_size: int = 32  # the global batch: split across ranks under torchrun
    lr: float = 2e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    beta2: float = 0.999  # Adam's second-moment decay
    clip: float = 1.0
    schedule: str = "cosine"
    warmup: float = 0.0  # fraction of the run
    lr_decay: float = 0.25  # plateau schedule: multiply on a non-improving evaluation
    patience: int = 3
    eval_every: int | None = None  # steps; None: every epoch (at most 2000 steps apart)
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"  # auto | fp32 | bf16 | fp16 (autocast for the training passes)
    half: bool = False  # store the model file's weights as float16 (checkpoints stay float32)

    def __post_init__(self) -> None:
        if self.epochs is None and self.max_time is None and self.max_steps is None:
            raise ConfigError("give --epochs, --max-time or --max-steps")
        for name in ("batch_size", "patience", "epochs", "max_steps", "eval_every"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise OptionError(name, "must be at least 1", value)
        for name in ("lr", "max_time"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise OptionError(name, "must be a positive number", value)
        for name in ("clip", "weight_decay"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise OptionError(name, "must be 0 or more", getattr(self, name))
        if not 0.0 <= self.warmup < 1.0:
            raise OptionError("warmup", "must be a fraction in [0, 1)", self.warmup)
        if not 0.0 < self.beta2 < 1.0 or not 0.0 < self.lr_decay <= 1.0:
            raise ConfigError("beta2 must be in (0, 1) and lr_decay in (0, 1]")
        choice(self.optimizer, OPTIMIZERS, "optimizer")
        choice(self.schedule, SCHEDULES, "schedule")
        choice(self.precision, PRECISIONS, "precision")
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise ConfigError(f"unknown device {self.device!r}; use one of: {', '.join(DEVICES)} (or cuda:N)")


VALID_TOKENS = 5_000_000


@dataclass
class LMTrainConfig(TrainConfig):
    bptt: int = 128
    # a tiny text: every line its own stream from the start-of-text state (set by train-lm, kept on resume)
    line_streams: bool = False
    # validations read at most this many tokens of the validation split (its start): 10% of a
    # 1 GB corpus is 100M characters, minutes per validation; 5M is enwik8's and text8's whole set
    valid_tokens: int | None = VALID_TOKENS

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.bptt < 1:
            raise OptionError("bptt", "must be at least 1", self.bptt)
        if self.valid_tokens is not None and self.valid_tokens < 2:
            raise OptionError("valid_tokens", "must be at least 2", self.valid_tokens)


@dataclass
class TaggerTrainConfig(TrainConfig):
    word_dropout: float = 0.25  # the rarest words that keep an embedding become <unk> this often (teaches <unk>)
    min_word_freq: int = 1
    lm_loss: float = 0.0  # weight of the first layer's next/previous-word loss (0: off)
    tune_vectors: bool = True  # --word-vectors: train their rows too (else frozen; words without vectors learn)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (math.isfinite(self.lm_loss) and self.lm_loss >= 0):
            raise OptionError("lm_loss", "must be 0 (off) or positive", self.lm_loss)
        if not 0.0 <= self.word_dropout < 1.0:
            raise ConfigError("word dropout must be in [0, 1)")
        if self.min_word_freq < 1:
            raise OptionError("min_word_freq", "must be at least 1", self.min_word_freq)


@dataclass
class ClassifierTrainConfig(TrainConfig):
    word_dropout: float = 0.25  # as for taggers: the rarest words become <unk> this often
    min_word_freq: int = 1
    max_vocab: int | None = None  # words with an embedding of their own, at most (reserved ones included)
    class_weight: str = "none"  # balanced: weigh each class by the inverse of its frequency
    calibrate: bool = True  # fit a temperature on the dev set after training
    tune_vectors: bool = True  # as for taggers

    def __post_init__(self) -> None:
        super().__post_init__()
        choice(self.class_weight, CLASS_WEIGHTS, "--class-weight")
        if not 0.0 <= self.word_dropout < 1.0:
            raise ConfigError("word dropout must be in [0, 1)")
        if self.min_word_freq < 1:
            raise OptionError("min_word_freq", "must be at least 1", self.min_word_freq)
        if self.max_vocab is not None and self.max_vocab < 3:
            raise OptionError("max_vocab", "must be at least 3", self.max_vocab)


# What a resumed run may change: its budget, its patience, how the model file is
# stored, and where it runs. Everything else comes from the checkpoint.
RESUME_OVERRIDES = ("epochs", "max_time", "max_steps", "patience", "half", "device", "precision")


NEGATIVE_FLAGS = {"tune_vectors": "--freeze-vectors"}  # a boolean option's "off" flag, where not --no-NAME


def _changed(name: str, given, kept) -> str:
    """An option a resumed run was given and cannot change, and the checkpoint's value:
    ``--lr (checkpoint: 0.01)``; a boolean by its flags, ``--freeze-vectors (checkpoint: --tune-vectors)``."""
    flag = "--" + name.replace("_", "-")
    if isinstance(given, bool):
        typed = [flag if v else NEGATIVE_FLAGS.get(name, "--no-" + flag[2:]) for v in (given, kept)]
        return f"{typed[0]} (checkpoint: {typed[1]})"
    return f"{flag} (checkpoint: {kept!r})"


def resumed(cfg: C, options: dict | None) -> C:
    """A checkpoint's training config with the options a resumed run may change on top.
    Any other option given with a different value is an error, not silently ignored."""
    given = check_keys(type(cfg), options, "training")
    changed = {k: v for k, v in given.items() if k not in RESUME_OVERRIDES and getattr(cfg, k) != v}
    if changed:
        shown = ", ".join(_changed(k, v, getattr(cfg, k)) for k, v in sorted(changed.items()))
        raise ConfigError(f"a resumed run keeps its checkpoint's settings; drop {shown}, or start a new run "
                          f"without --resume (a resumed run may change only "
                          f"{', '.join('--' + k.replace('_', '-') for k in RESUME_OVERRIDES)})")
    return dataclasses.replace(cfg, **{k: v for k, v in given.items() if k in RESUME_OVERRIDES})
