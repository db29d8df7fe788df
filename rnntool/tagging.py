"""The tagger's configuration: the shared encoder (rnntool.features) and a tag layer."""

from __future__ import annotations

from dataclasses import dataclass, field

from rnntool.errors import RnntoolError
from rnntool.features import (  # noqa: F401 (the tagger's features, by their old names too)
    BOW, CASES, EOW, MAX_WORD_CHARS, PAD, UNK, EncoderConfig, build_vocabularies, casing, clip_chars, normalize_word,
)


@dataclass(kw_only=True)
class TaggerConfig(EncoderConfig):
    """A tagger's architecture. Its field defaults (the encoder's) are the tagger recipe's
    (``rnntool.recipes.TAGGER_MODEL``, the source a train-tagger run and its --help read;
    tests/test_options.py holds them equal)."""

    tags: list[str]
    char_filters: int = 96
    hidden: int = 192
    dropout: float = 0.4
    crf: bool = False
    scheme: str | None = None  # "iob2" for entity tags (converted from IOB1 if needed)
    column: str | None = None  # which input column the tags came from
    # character language models whose states join each word's features (train-tagger --char-lm;
    # rnntool.runtime.charlm): each's name, architecture, vocabulary and tokenizer; their
    # weights are in the model file under char_lm.K.
    char_lms: list[dict] = field(default_factory=list)

    TYPE = "bilstm-tagger"

    def __post_init__(self) -> None:
        if not self.tags:
            raise RnntoolError("the training data has no tags")
        super().__post_init__()

    @property
    def char_lm_size(self) -> int:
        return sum(int(lm["config"]["hidden"]) for lm in self.char_lms)

    @property
    def feature_size(self) -> int:
        return super().feature_size + self.char_lm_size
