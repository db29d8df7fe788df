"""Where text comes from: files, ``-`` (stdin) and ``nltk:<corpus>[/<fileid>]``.

Every reader yields lines without their line terminator. Files are read as
UTF-8 in binary blocks so that a decoding error can name its byte offset; a
BOM is dropped and CRLF / CR line ends become LF.
"""

from __future__ import annotations

import codecs
import os
import stat
import sys
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import chain, islice, repeat
from typing import BinaryIO

from rnntool.config import DECODE_ERRORS
from rnntool.errors import InputError

BLOCK_SIZE = 1 << 20
PIECE_CHARS = 1 << 20  # lines longer than this are read in pieces
NLTK_LINES_A_BLOCK = 4096
NLTK_PREFIX = "nltk:"

ProgressFn = Callable[[int], None]


def nfc(text: str) -> str:
    """Unicode NFC: an NFD file and its NFC copy read the same (Hangul arrives in both)."""
    return text if text.isascii() or unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


def _cut(text: str, limit: int) -> int:
    """Where to cut a long line: after the last white space before ``limit`` (so a piece never
    ends inside a word), else at ``limit``."""
    space = max(text.rfind(" ", 0, limit), text.rfind("\t", 0, limit))
    return space + 1 if space >= limit // 2 else limit


def _decode_blocks(stream: BinaryIO, name: str, errors: str, progress: ProgressFn | None,
                   allow_empty: bool = False, max_piece: int | None = None) -> Iterator[list[tuple[str, bool]]]:
    """Decode a binary stream into (text, ends_a_line) pieces, a list for each block read: whole
    lines (terminators removed), or, for lines longer than ``max_piece`` characters, pieces of
    them cut at white space -- memory stays bounded however long a line is (text8 and enwik8
    are one line). A block's complete lines are put in NFC at once: a line end never
    composes with a neighbour, so that is each line's NFC."""
    if errors not in DECODE_ERRORS:
        raise InputError(f"unknown --errors value {errors!r}; use one of: {', '.join(DECODE_ERRORS)}")
    decoder = codecs.getincrementaldecoder("utf-8")(errors)
    offset = 0  # bytes of the stream consumed so far
    pending = ""  # text after the last complete line
    first = True
    at_start = True  # the BOM may arrive split across blocks
    # read1 returns what is there (a pipe's line) instead of waiting for a whole block
    read = getattr(stream, "read1", stream.read)
    while True:
        block = read(BLOCK_SIZE)
        final = not block
        if first:
            if not block:
                if allow_empty:
                    return
                raise InputError(f"{name} is empty; give a file with some text in it")
            first = False
        nul = block.find(b"\x00")
        if nul >= 0:
            raise InputError(
                f"{name} looks like a binary file (NUL byte at offset {offset + nul}); give a UTF-8 text file"
            )
        held = decoder.getstate()[0]  # the bytes of a character split across blocks
        failure = None
        try:
            text = decoder.decode(block, final=final)
        except UnicodeDecodeError as e:
            failure = InputError(f"{name} is not valid UTF-8 (byte offset {offset - len(held) + e.start}); "
                                 "convert it to UTF-8 (e.g. iconv) or pass --errors replace")
            # the lines before the bad byte are still read (a stream's answers up to it are
            # written), then the error; the line that holds it is not
            text, final = (held + block)[:e.start].decode("utf-8"), False
        if at_start and text:
            at_start = False
            if text.startswith("\ufeff"):
                text = text[1:]
        offset += len(block)
        if progress is not None and block:
            progress(len(block))
        text = pending + text
        carry = ""
        if not final and failure is None and text.endswith("\r"):
            # the "\n" of a CRLF may be in the next block
            carry, text = "\r", text[:-1]
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        end = text.rfind("\n")  # the complete lines go to NFC together; the rest waits for its line end
        out = list(zip(nfc(text[:end]).split("\n"), repeat(True))) if end >= 0 else []
        pending = text[end + 1:]
        if failure is not None:
            if out:
                yield out
            raise failure
        while max_piece and len(pending) > max_piece:
            cut = _cut(pending, max_piece)
            out.append((nfc(pending[:cut]), False))
            pending = pending[cut:]
        pending += carry
        if final and pending:
            out.append((nfc(pending), True))
        if out:
            yield out
        if final:
            return


@dataclass(frozen=True)
class TextSource:
    """One input named on the command line."""

    spec: str

    @property
    def name(self) -> str:
        return "<stdin>" if self.spec == "-" else self.spec

    @property
    def is_nltk(self) -> bool:
        return self.spec.startswith(NLTK_PREFIX)

    @property
    def streams(self) -> bool:
        """Whether the input arrives as it is written (stdin, a pipe or terminal named by path
        such as /dev/stdin, a socket): its lines must be answered as they come, not gathered."""
        if self.spec == "-":
            return True
        if self.is_nltk:
            return False
        try:
            return not stat.S_ISREG(os.stat(self.spec).st_mode)
        except OSError:
            return False  # check() says what is wrong with it

    def size(self) -> int | None:
        """Size in bytes when known up front (for progress bars)."""
        if self.spec == "-" or self.is_nltk:
            return None
        try:
            return os.path.getsize(self.spec)
        except OSError:
            return None

    def check(self) -> None:
        """Raise a friendly error now if the input obviously cannot be read."""
        if self.spec == "-" or self.is_nltk:
            return
        if not os.path.exists(self.spec):
            raise InputError(f"{self.spec}: no such file")
        if os.path.isdir(self.spec):
            raise InputError(f"{self.spec} is a directory; give a text file (or - for stdin)")
        if not os.access(self.spec, os.R_OK):
            raise InputError(f"{self.spec}: permission denied")

    def lines(self, errors: str = "strict", progress: ProgressFn | None = None,
              allow_empty: bool = False) -> Iterator[str]:
        """Lines without terminators, in NFC; an empty input is an error unless ``allow_empty``."""
        for line, _ in self.pieces(errors, progress, allow_empty, max_piece=None):
            yield line

    def pieces(self, errors: str = "strict", progress: ProgressFn | None = None, allow_empty: bool = False,
               max_piece: int | None = PIECE_CHARS) -> Iterator[tuple[str, bool]]:
        """(text, ends_a_line) pieces: lines, with lines longer than ``max_piece`` characters
        in pieces cut at white space (bounded memory for one-line corpora)."""
        return chain.from_iterable(self.piece_blocks(errors, progress, allow_empty, max_piece))

    def piece_blocks(self, errors: str = "strict", progress: ProgressFn | None = None, allow_empty: bool = False,
                     max_piece: int | None = PIECE_CHARS) -> Iterator[list[tuple[str, bool]]]:
        """``pieces`` as lists, one for each block read: what arrived together (a pipe's
        lines as they come), without a step through Python for every line."""
        self.check()
        if self.is_nltk:
            lines = nltk_lines(self.spec[len(NLTK_PREFIX):])
            while block := list(islice(lines, NLTK_LINES_A_BLOCK)):
                yield [(nfc(line), True) for line in block]
        elif self.spec == "-":
            yield from _decode_blocks(sys.stdin.buffer, self.name, errors, progress, allow_empty, max_piece)
        else:
            with open(self.spec, "rb") as f:
                yield from _decode_blocks(f, self.name, errors, progress, allow_empty, max_piece)


def read_text(spec: str, errors: str = "strict") -> str:
    """Read one whole input as a string (LF line ends)."""
    return "\n".join(TextSource(spec).lines(errors))


def nltk_lines(spec: str) -> Iterator[str]:
    """Lines of an NLTK corpus: ``gutenberg/carroll-alice.txt`` or ``treebank``.

    Plain-text corpora are read raw; corpora with tokenized sentences (tagged,
    parsed, CoNLL...) give one space-joined sentence per line.
    """
    corpus_name, _, fileid = spec.partition("/")
    reader = nltk_corpus_reader(corpus_name)
    fileids = [fileid] if fileid else None
    if fileid and fileid not in reader.fileids():
        shown = ", ".join(reader.fileids()[:8])
        raise InputError(f"nltk corpus {corpus_name!r} has no file {fileid!r}; it has: {shown}, ...")
    from nltk.corpus.reader import PlaintextCorpusReader

    if isinstance(reader, PlaintextCorpusReader) or not hasattr(reader, "sents"):
        for one in fileids or reader.fileids():
            lines = reader.raw(one).replace("\r\n", "\n").replace("\r", "\n").split("\n")
            if lines and lines[-1] == "":
                lines.pop()  # the text's final line end
            yield from lines
    else:
        for sentence in reader.sents(fileids):
            yield " ".join(sentence)


def nltk_corpus_reader(corpus_name: str):
    """The nltk corpus reader called ``corpus_name``, or a one-line error."""
    if not corpus_name or not corpus_name.isidentifier():
        raise InputError(f"bad nltk corpus name {corpus_name!r}; write nltk:<corpus>[/<fileid>], e.g. nltk:gutenberg")
    import nltk.corpus
    from nltk.corpus.util import LazyCorpusLoader

    reader = getattr(nltk.corpus, corpus_name, None)
    if not isinstance(reader, LazyCorpusLoader) and not hasattr(reader, "fileids"):
        raise InputError(
            f"unknown nltk corpus {corpus_name!r}; see https://www.nltk.org/nltk_data/ for the names "
            "(e.g. nltk:gutenberg, nltk:brown, nltk:treebank)"
        )
    try:
        reader.fileids()  # forces the lazy loader to find its data
    except LookupError:
        raise InputError(
            f"nltk corpus {corpus_name!r} is not installed; run: python -c \"import nltk; nltk.download('{corpus_name}')\" "
            "(or set NLTK_DATA to a directory that has it)"
        ) from None
    return reader
