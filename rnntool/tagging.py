"""The tagger's configuration: the shared encoder (rnntool.features) and a tag layer."""

from __future__ import annotations

from dataclasses import dataclass

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
    crf: bool = False
    scheme: str | None = None  # "iob2" for entity tags (converted from IOB1 if needed)
    column: str | None = None  # which input column the tags came from

    TYPE = "bilstm-tagger"

    def __post_init__(self) -> None:
        if not self.tags:
            raise RnntoolError("the training data has no tags")
        super().__post_init__()
