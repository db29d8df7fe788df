"""What rnntool chooses when you say nothing, and the values its options accept (public;
docs/api.md). The recipes (internal) are the one place defaults live; this module is their
public face, read by the CLI's --help, and by any front end or service built on rnntool.
Torch-free and cheap to import.

    >>> from rnntool import defaults
    >>> defaults.GENERATION["temperature"]
    0.8
    >>> defaults.resolved("classifier", "word")["pool"]
    'max'
"""

from __future__ import annotations

from types import MappingProxyType

from rnntool import recipes
from rnntool.classification import POOLS
from rnntool.config import (
    CELLS,
    CLASS_WEIGHTS,
    CLASSIFY_INPUTS,
    CLASSIFY_OUTPUTS,
    DECODE_ERRORS,
    LABELLED_FORMATS,
    LEVELS,
    OPTIMIZERS,
    PRECISIONS,
    SCHEDULES,
    SOFTMAXES,
    SPLIT_MODES,
    SUBWORD_TOKENIZERS,
    SUBWORD_VOCAB_SIZE,
    TAG_INPUTS,
    TAG_OUTPUTS,
    TAGGED_FORMATS,
    WORD_TOKENIZERS,
)

__all__ = [
    "GENERATION", "CHAR_LM_TAGGER", "CHAR_LM_TAGGER_FLAGS", "DEV_FRAC", "VALID_FRAC", "resolved", "default_text", "describe_lm_defaults", "model_variables",
    "CELLS", "CLASS_WEIGHTS", "CLASSIFY_INPUTS", "CLASSIFY_OUTPUTS", "DECODE_ERRORS", "LABELLED_FORMATS", "LEVELS",
    "OPTIMIZERS", "POOLS", "PRECISIONS", "SCHEDULES", "SOFTMAXES", "SPLIT_MODES", "TAG_INPUTS", "TAG_OUTPUTS",
    "TAGGED_FORMATS", "WORD_TOKENIZERS", "SUBWORD_TOKENIZERS", "SUBWORD_VOCAB_SIZE",
]

GENERATION = MappingProxyType(recipes.GENERATION)  # generate's sampling defaults (read-only)
CHAR_LM_TAGGER = MappingProxyType(recipes.CHAR_LM_TAGGER)  # train-tagger --char-lm: these unless given
CHAR_LM_TAGGER_FLAGS = recipes.Choice(recipes.CHAR_LM_TAGGER, "").flags()  # the same, as a user types them
DEV_FRAC = recipes.DEV_FRAC  # train-tagger / train-classifier without dev data: the share of TRAIN held out
VALID_FRAC = recipes.VALID_FRAC  # train-lm on text without validation text: the share of it (its tail) held out
default_text = recipes.default_text
describe_lm_defaults = recipes.describe_lm_defaults


def resolved(kind: str, level: str | None = None) -> dict:
    """Every setting of a ``kind`` ("lm", "tagger", "classifier") model and its training run,
    as the plain ``train-*`` command resolves them at ``level`` ("char" or "word"; the LM and
    the classifier differ by level)."""
    return recipes.resolved_defaults(kind, level)


def model_variables() -> list[tuple[str, str]]:
    """(environment variable, what it names) for each kind: the model a command uses when
    none is given and you have trained none."""
    from rnntool.kinds import KINDS

    return [(kind.env, f"The {kind.display} to use when -m is not given and you have trained none "
                       f"({kind.train_command}).") for kind in KINDS.values()]
