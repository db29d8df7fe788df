"""Turning a line of text into tokens (characters or words), and back.

The settings travel inside prepared corpora and model files so that a model
always sees text cleaned and split exactly the way its training data was.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass
from functools import lru_cache

from rnntool.config import LEVELS, WORD_TOKENIZERS
from rnntool.errors import RnntoolError
from rnntool.text.sources import nfc


PAD, UNK, EOS = "<pad>", "<unk>", "<eos>"
SPECIALS = (PAD, UNK, EOS)

# Typographic punctuation that NFKD leaves alone but has an obvious ASCII spelling.
_ASCII_PUNCT = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
        "\u00ab": '"', "\u00bb": '"', "\u2039": "'", "\u203a": "'",
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "--", "\u2015": "--",
        "\u2212": "-", "\u00a0": " ", "\u2022": "*", "\u00b7": ".",
    }
)

# Reserved markers that may appear literally in pre-tokenized text (the PTB files
# contain "<unk>"); the treebank tokenizer must not split them into "<", "unk", ">".
_SPECIAL_RE = re.compile("(" + "|".join(re.escape(s) for s in SPECIALS) + ")")


@lru_cache(maxsize=1)
def _punctuation_table() -> dict[int, None]:
    return {cp: None for cp in range(0x110000) if unicodedata.category(chr(cp)).startswith("P")}


def fold_ascii(text: str) -> str:
    """Fold to ASCII: typographic quotes/dashes, then accents; drop the rest."""
    if text.isascii():
        return text
    text = unicodedata.normalize("NFKD", text.translate(_ASCII_PUNCT))
    return text.encode("ascii", "ignore").decode("ascii")


def _import_treebank():
    """``nltk.tokenize.treebank`` without running ``nltk/__init__.py``, which imports most of
    NLTK (corpora, chunkers, translation metrics) and was most of ``classify``'s and ``tag``'s
    time to the first answer. The two package modules are stood in for while the module
    and the few it needs load; then every nltk module loaded so is taken out of
    ``sys.modules`` again (the tokenizer class keeps what it needs), so a later ``import
    nltk`` loads the real package whole, as if this had never run. Any surprise: the
    plain import."""
    import importlib.util
    import sys
    import types

    if "nltk" in sys.modules:
        from nltk.tokenize.treebank import TreebankWordTokenizer

        return TreebankWordTokenizer
    before = set(sys.modules)
    try:
        spec = importlib.util.find_spec("nltk")
        root = spec.submodule_search_locations[0]
        for name, path in (("nltk", root), ("nltk.tokenize", f"{root}/tokenize")):
            module = types.ModuleType(name)
            module.__path__ = [path]
            sys.modules[name] = module
        from nltk.tokenize.treebank import TreebankWordTokenizer
    except Exception:
        TreebankWordTokenizer = None
    finally:
        for name in [m for m in set(sys.modules) - before if m == "nltk" or m.startswith("nltk.")]:
            del sys.modules[name]
    if TreebankWordTokenizer is None:
        from nltk.tokenize.treebank import TreebankWordTokenizer
    return TreebankWordTokenizer


@lru_cache(maxsize=1)
def treebank_tokenizer():
    """NLTK's Treebank word tokenizer, its rules run on the stdlib ``re`` engine.

    NLTK >= 3.10 routes every pattern through the ``regex`` engine under a
    wall-clock timeout (a ReDoS guard for caller-supplied patterns). The Treebank
    rules are fixed, linear-time patterns, and the guard made tokenizing ~2.5x
    slower (measured on UD English-EWT text); the tokens are identical
    (tests/test_tokenize.py holds the two to the same output).
    """
    TreebankWordTokenizer = _import_treebank()

    std_flags = re.IGNORECASE | re.MULTILINE | re.DOTALL | re.VERBOSE | re.ASCII

    def plain(pattern):
        compiled = getattr(pattern, "_rx", pattern)  # nltk.redos.TimedPattern wraps a regex pattern
        return compiled if isinstance(compiled, re.Pattern) else re.compile(compiled.pattern, compiled.flags & std_flags)

    def rules(pairs):
        return [(plain(p), sub) for p, sub in pairs]

    base = TreebankWordTokenizer
    fast = type("StdlibTreebankWordTokenizer", (base,), {
        "STARTING_QUOTES": rules(base.STARTING_QUOTES), "PUNCTUATION": rules(base.PUNCTUATION),
        "ENDING_QUOTES": rules(base.ENDING_QUOTES), "CONVERT_PARENTHESES": rules(base.CONVERT_PARENTHESES),
        "PARENS_BRACKETS": rules([base.PARENS_BRACKETS])[0], "DOUBLE_DASHES": rules([base.DOUBLE_DASHES])[0],
        "CONTRACTIONS2": [plain(p) for p in base.CONTRACTIONS2],
        "CONTRACTIONS3": [plain(p) for p in base.CONTRACTIONS3],
    })
    return fast()


KIWI_BATCH = 512  # texts per call into kiwi's (multithreaded) analyser


@lru_cache(maxsize=1)
def kiwi_analyser():
    """kiwipiepy's Korean morpheme analyser (the optional [ko] extra)."""
    try:
        from kiwipiepy import Kiwi
    except ImportError:
        raise RnntoolError("--tokenizer kiwi needs the Korean extra: pip install \"rnntool[ko]\" "
                           "(kiwipiepy and its model package)") from None
    import os

    return Kiwi(num_workers=min(4, os.cpu_count() or 1))


def kiwi_tokens(lines: list[str]) -> list[list[str]]:
    """Korean morphemes as form/TAG tokens (the tag tells 보/VV 'see' from 보/NNG), one list per line."""
    out = []
    kiwi = kiwi_analyser()
    for start in range(0, len(lines), KIWI_BATCH):
        out += [[f"{t.form}/{t.tag}" for t in tokens] for tokens in kiwi.tokenize(lines[start: start + KIWI_BATCH])]
    return out


@dataclass(frozen=True)
class TokenizerSettings:
    level: str = "char"
    tokenizer: str = "treebank"  # word level only
    lower: bool = False
    strip_punct: bool = False
    ascii: bool = False

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise RnntoolError(f"unknown level {self.level!r}; use one of: {', '.join(LEVELS)}")
        if self.tokenizer not in WORD_TOKENIZERS:
            raise RnntoolError(f"unknown tokenizer {self.tokenizer!r}; use one of: {', '.join(WORD_TOKENIZERS)}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TokenizerSettings":
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


class Tokenizer:
    """Clean and split one line of text (without its line end)."""

    def __init__(self, settings: TokenizerSettings):
        self.settings = settings
        self.line_end = "\n" if settings.level == "char" else EOS

    def clean(self, line: str) -> str:
        s = self.settings
        line = nfc(line)  # prompts and other strings that did not come through a TextSource
        if s.ascii:
            line = fold_ascii(line)
        if s.lower:
            line = line.lower()
        if s.strip_punct:
            line = line.translate(_punctuation_table())
        return line

    def tokenize(self, line: str) -> list[str]:
        line = self.clean(line)
        if self.settings.level == "char":
            return list(line)
        if self.settings.tokenizer == "whitespace":
            return line.split()
        if self.settings.tokenizer == "kiwi":
            return kiwi_tokens([line])[0] if line.strip() else []
        tokens: list[str] = []
        for i, piece in enumerate(_SPECIAL_RE.split(line)):
            if i % 2:
                tokens.append(piece)
            elif piece and not piece.isspace():
                tokens.extend(treebank_tokenizer().tokenize(piece))
        return tokens


    def tokenize_many(self, lines: list[str]) -> list[list[str]]:
        """``tokenize`` for many lines at once (kiwi analyses them in batches, on every core)."""
        if self.settings.level == "word" and self.settings.tokenizer == "kiwi":
            cleaned = [self.clean(line) for line in lines]
            return kiwi_tokens(cleaned)
        return [self.tokenize(line) for line in lines]


# Detokenizing word-level output: no space before closing punctuation and clitics,
# none after opening brackets; PTB quote and bracket tokens back to characters.
_NO_SPACE_BEFORE = {".", ",", ";", ":", "!", "?", "%", ")", "]", "}", "''", "'", "n't", "'s", "'re", "'ve", "'m",
                    "'ll", "'d", "...", "-RRB-", "-RSB-", "-RCB-"}
_NO_SPACE_AFTER = {"(", "[", "{", "``", "$", "#", "-LRB-", "-LSB-", "-LCB-"}
_SURFACE = {"``": '"', "''": '"', "-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}"}


class Detokenizer:
    """Turns a stream of tokens back into text, one token at a time."""

    def __init__(self, level: str):
        self.level = level
        self.at_line_start = True
        self.no_space_next = False

    def reset(self, at_line_start: bool = True) -> None:
        self.at_line_start = at_line_start
        self.no_space_next = False

    def __call__(self, token: str) -> str:
        if self.level == "char":
            return token
        if token == EOS:
            self.at_line_start = True
            return "\n"
        surface = _SURFACE.get(token, token)
        space = not (self.at_line_start or self.no_space_next or token in _NO_SPACE_BEFORE)
        self.at_line_start = False
        self.no_space_next = token in _NO_SPACE_AFTER
        return (" " + surface) if space else surface

    def flush(self) -> str:
        """Text still held back at the end of a generation (none: every token is final at once)."""
        return ""


class MorphemeDetokenizer:
    """Kiwi morphemes (``먹/VV 었/EP 다/EF``) back into Korean text (``먹었다``) with kiwi's
    own join, which knows how morphemes contract and where the spaces go. A word's text can
    still change with its next morpheme, so text is released a whole word at a time (and
    the rest at a line end or ``flush``)."""

    def __init__(self):
        self.kiwi = kiwi_analyser()
        self.reset()

    def reset(self, at_line_start: bool = True) -> None:
        self.morphs: list[tuple[str, str]] = []
        self.released = 0
        self.lead = "" if at_line_start else " "  # a continuation starts a new word after its prompt

    def _text(self) -> str:
        try:
            return self.lead + self.kiwi.join(self.morphs)
        except Exception:  # a tag kiwi does not know (a model's <unk>): the forms, spaced
            return self.lead + " ".join(form for form, _ in self.morphs)

    def __call__(self, token: str) -> str:
        if token == EOS:
            out = self.flush() + "\n"
            self.reset()
            return out
        form, slash, tag = token.rpartition("/")
        self.morphs.append((form, tag) if slash and form else (token, "UN"))
        text = self._text()
        stable = text.rfind(" ")
        if stable <= self.released:
            return ""
        out, self.released = text[self.released: stable], stable
        return out

    def flush(self) -> str:
        if not self.morphs:
            return ""
        text = self._text()
        out, self.released = text[self.released:], len(text)
        return out


def make_detokenizer(level: str, tokenizer: str = "treebank"):
    """The detokenizer that undoes ``tokenizer`` at ``level``."""
    if level == "word" and tokenizer == "kiwi":
        return MorphemeDetokenizer()
    return Detokenizer(level)
