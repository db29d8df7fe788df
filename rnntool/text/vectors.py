"""Pretrained word vectors in the text format word2vec, GloVe and fastText share.

One word a line followed by its numbers, separated by spaces; word2vec's and fastText's
``.vec`` files start with a "COUNT DIMENSION" line, GloVe's do not. Gzipped files (``.gz``)
are read as they are. The binary word2vec format is refused with what to do instead.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from rnntool.errors import InputError

MAX_VECTORS = 20_000  # words of a vectors file kept beyond the training data's (files list frequent words first)


def _open(path: Path, errors: str):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors=errors, newline="\n")
    return open(path, encoding="utf-8", errors=errors, newline="\n")


def read_word_vectors(spec: str | os.PathLike, wanted=None, limit: int = MAX_VECTORS,
                      errors: str = "strict", stop_after: int | None = None) -> tuple[list[str], np.ndarray]:
    """(words, vectors [n, dimension] float32) of a vectors file: every word ``wanted`` holds
    (``wanted(word)`` true) and the file's first ``limit`` words besides, each word once (its
    first line); ``stop_after``: stop reading at that many words. Damage is a one-line error
    naming the line."""
    path = Path(spec)
    name = os.fspath(spec)
    if not path.is_file():
        raise InputError(f"{name}: no such word vectors file")
    words: list[str] = []
    rows: list[np.ndarray] = []
    seen: set[str] = set()
    dimension = None
    extra = 0
    try:
        with _open(path, errors) as f:
            for number, line in enumerate(f, 1):
                text = line.rstrip("\n").rstrip(" \r")
                parts = text.split(" ")
                if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                    dimension = int(parts[1])  # word2vec / fastText .vec header: COUNT DIMENSION
                    continue
                if len(parts) < 2 or not parts[0]:
                    if not line.strip():
                        continue
                    raise InputError(f"{name}, line {number}: expected a word and its numbers")
                if dimension is None:
                    dimension = len(parts) - 1
                if len(parts) - 1 > dimension:  # a word with spaces in it (GloVe 840B has ". . ." and the like)
                    parts = text.rsplit(" ", dimension)
                if len(parts) - 1 != dimension:
                    raise InputError(f"{name}, line {number}: {len(parts) - 1} numbers where the file's vectors "
                                     f"have {dimension}")
                word = parts[0]
                if word in seen:
                    continue
                keep = wanted is not None and wanted(word)
                if not keep and extra >= limit:
                    continue
                try:
                    row = np.array(parts[1:], dtype=np.float32)
                except ValueError:
                    raise InputError(f"{name}, line {number}: not a number among the vector's values") from None
                if not np.isfinite(row).all():
                    raise InputError(f"{name}, line {number}: the vector of {word!r} is not finite")
                seen.add(word)
                words.append(word)
                rows.append(row)
                extra += not keep
                if stop_after is not None and len(words) >= stop_after:
                    break
    except UnicodeDecodeError as e:
        if _looks_binary(path):
            raise InputError(f"{name} is a binary word2vec file; save it in the text format (gensim: "
                             "KeyedVectors.load_word2vec_format(FILE, binary=True).save_word2vec_format(OUT))") from None
        raise InputError(f"{name} is not UTF-8 text ({e.reason} at byte {e.start}); pass --errors replace") from None
    except (OSError, EOFError, zlib.error) as e:
        raise InputError(f"{name} cannot be read ({e})") from None
    if not words:
        raise InputError(f"{name} holds no word vectors")
    return words, np.stack(rows)


def vectors_dimension(spec: str | os.PathLike, errors: str = "strict") -> int:
    """The size of a vectors file's vectors, from its first lines (a quick check before
    anything is trained); the file is read whole, and checked, later."""
    return read_word_vectors(spec, errors=errors, stop_after=1)[1].shape[1]


def _looks_binary(path: Path) -> bool:
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
            head = f.read(4096)
    except (OSError, EOFError, zlib.error):
        return False
    first, _, rest = head.partition(b"\n")
    return len(first.split()) == 2 and first.replace(b" ", b"").isdigit() and b"\0" in rest
