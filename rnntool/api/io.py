"""Reading and writing text as the commands do: ``-`` is stdin, every line NFC-normalised,
invalid UTF-8 an error (``errors="strict"``) or U+FFFD (``"replace"``), ``nltk:CORPUS``
names an NLTK corpus; output to a stream, a path, or stdout."""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
from collections.abc import Iterable, Iterator
from typing import TextIO

from rnntool.errors import InputError


def read_lines(source: str | os.PathLike = "-", *, errors: str = "strict", allow_empty: bool = False) -> Iterator[str]:
    """The lines of a text file (``-``: stdin; ``nltk:gutenberg/carroll-alice.txt``), without
    their line ends, in NFC, as they are read (any size in constant memory). An empty input is
    an :class:`~rnntool.errors.InputError` unless ``allow_empty``."""
    from rnntool.config import DECODE_ERRORS, choice
    from rnntool.text.sources import TextSource

    choice(errors, DECODE_ERRORS, "errors")
    return TextSource(os.fspath(source)).lines(errors, allow_empty=allow_empty)


def text_size(sources) -> int | None:
    """The bytes a text source (or a list of them) holds when that is known up front (files),
    else None (``-``, ``nltk:``): what a progress bar needs."""
    from rnntool.text.sources import TextSource

    sizes = [TextSource(os.fspath(s)).size() for s in ([sources] if isinstance(sources, (str, os.PathLike))
                                                        else sources)]
    return sum(sizes) if all(size is not None for size in sizes) else None


def read_text(source: str | os.PathLike = "-", *, errors: str = "strict") -> str:
    """A whole text file (``-``: stdin) as one string, in NFC."""
    from rnntool.config import DECODE_ERRORS, choice
    from rnntool.text.sources import read_text as read

    choice(errors, DECODE_ERRORS, "errors")
    return read(os.fspath(source), errors)


def batched(items: Iterable, size: int, answer_on_pause: bool = False) -> Iterator[list]:
    """Lists of ``size`` items, read in the caller's thread. With ``answer_on_pause`` (the
    commands on a terminal or a pipe), a background thread reads the items and a shorter batch
    goes out whenever the input pauses (~50 ms), so an interactive line is answered at once;
    the input is then read from that thread."""
    from rnntool.api.checks import check_counts

    check_counts(size)
    if answer_on_pause:
        from rnntool.runtime.stream import batches

        return batches(iter(items), size)
    items = iter(items)
    return iter(lambda: list(itertools.islice(items, size)), [])


def not_one_str(items, method: str, one: str):
    """``items`` when it is an iterable of many, not a single string (whose letters would be many)."""
    if isinstance(items, (str, bytes)):
        raise InputError(f"{method} takes an iterable of {one}s; for a single {one} call it on [{one}] or use "
                         f"the single form")
    return items


@contextlib.contextmanager
def output_stream(out: TextIO | str | os.PathLike | None) -> Iterator[TextIO]:
    """A text stream to write to: ``out`` itself, a new UTF-8 file at that path, or stdout."""
    if out is None:
        yield sys.stdout
    elif isinstance(out, (str, os.PathLike)):
        try:
            stream = open(out, "w", encoding="utf-8")
        except OSError as e:
            raise InputError(f"cannot write {os.fspath(out)}: {e.strerror or e}") from None
        with stream:
            yield stream
    else:
        yield out
