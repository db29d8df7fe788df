"""What the loaded-model classes check and report alike: arguments (a clear InputError or
OutOfRangeError instead of a failure deep inside), and warnings as RnntoolWarning."""

from __future__ import annotations

import itertools
import warnings

from rnntool.errors import InputError, OutOfRangeError, RnntoolWarning

LETTERS_LOOKED_AT = 64  # words per call whose letters are checked against the model's characters


def check_text(text, what: str):
    """``text`` itself, when it is a str."""
    if not isinstance(text, str):
        raise InputError(f"{what} must be a str, not {type(text).__name__}")
    return text


def check_counts(batch_size: int, jobs: int | None = None) -> None:
    if batch_size < 1:
        raise OutOfRangeError(f"batch_size must be at least 1, not {batch_size}")
    if jobs is not None and jobs < 1:
        raise OutOfRangeError(f"jobs must be at least 1, not {jobs}")


def warn(message: str) -> None:
    warnings.warn(message, RnntoolWarning, stacklevel=3)


def check_letters(cfg, model: str, answers: str, token_lists) -> None:
    """Warn when most letters of a call's first words are ones the model never saw -- Hangul
    sent to an English model -- as the commands do for a file."""
    from rnntool.features import UnseenLetterCheck

    words = itertools.islice((w for tokens in token_lists for w in tokens), LETTERS_LOOKED_AT)
    UnseenLetterCheck(cfg, model, answers, warn).check(words)
