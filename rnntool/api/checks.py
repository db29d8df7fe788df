"""What the loaded-model classes check and report alike: arguments (a clear InputError or
OutOfRangeError instead of a failure deep inside), and warnings as RnntoolWarning."""

from __future__ import annotations

import itertools
import numbers
import warnings

from rnntool.errors import InputError, OptionError, RnntoolWarning

LETTERS_LOOKED_AT = 64  # words per call whose letters are checked against the model's characters


def check_text(text, what: str):
    """``text`` itself, when it is a str."""
    if not isinstance(text, str):
        raise InputError(f"{what} must be a str, not {type(text).__name__}")
    return text


def whole_number(value, name: str, least: int | None = None) -> int:
    """``value`` when it is a whole number (an int or a numpy integer; not a bool, not a float)
    of at least ``least``: a 2.5 would otherwise fail deep inside with numpy's words."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f"{name} must be a whole number, not {value!r}")
    if least is not None and value < least:
        raise OptionError(name, f"must be at least {least}", value)
    return int(value)


def real_number(value, name: str) -> float:
    """``value`` when it is a number (its range is the caller's to check)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{name} must be a number, not {value!r}")
    return float(value)


def _number_kind(annotation) -> str | None:
    """'int', 'float' or 'bool' for a parameter annotated so (alone or with None), else None."""
    parts = {part.strip() for part in str(annotation).split("|")} - {"None"}
    kind = parts.pop() if len(parts) == 1 else None
    return kind if kind in ("int", "float", "bool") else None


def checked_arguments(function):
    """Decorator of a public function: each argument its signature annotates as an int, a
    float or a bool is checked (a one-line InputError naming it, where a 64.0 or "64" for
    ``hidden`` failed deep inside torch) and numpy's numbers become Python's before the body
    runs (they would reach torch's modules and the model file's JSON header)."""
    import functools
    import inspect

    signature = inspect.signature(function)
    kinds = {name: _number_kind(p.annotation) for name, p in signature.parameters.items()}

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        for name, value in bound.arguments.items():
            kind = kinds.get(name)
            if value is None or kind is None:
                continue
            if kind == "int":
                bound.arguments[name] = whole_number(value, name)
            elif kind == "float":
                bound.arguments[name] = real_number(value, name)
            elif not (isinstance(value, bool) or getattr(getattr(value, "dtype", None), "kind", "") == "b"):
                raise InputError(f"{name} must be True or False, not {value!r}")
            else:
                bound.arguments[name] = bool(value)
        return function(*bound.args, **bound.kwargs)

    return wrapper


def check_counts(batch_size: int, jobs: int | None = None) -> None:
    whole_number(batch_size, "batch_size", 1)
    if jobs is not None:
        whole_number(jobs, "jobs", 1)


def warn(message: str) -> None:
    warnings.warn(message, RnntoolWarning, stacklevel=3)


def check_letters(cfg, model: str, answers: str, token_lists) -> None:
    """Warn when most letters of a call's first words are ones the model never saw -- Hangul
    sent to an English model -- as the commands do for a file."""
    from rnntool.features import UnseenLetterCheck

    words = itertools.islice((w for tokens in token_lists for w in tokens), LETTERS_LOOKED_AT)
    UnseenLetterCheck(cfg, model, answers, warn).check(words)
