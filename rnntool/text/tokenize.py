"""Turning a line of text into tokens (characters or words), and back.

The settings travel inside prepared corpora and model files so that a model
always sees text cleaned and split exactly the way its training data was.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from bisect import bisect_right
from itertools import accumulate, chain

from rnntool.config import LEVELS, SUBWORD_TOKENIZERS, WORD_TOKENIZERS
from rnntool.errors import InputError, OptionError
from rnntool.text.sources import nfc
from rnntool.text.subword import SubwordDetokenizer, learn_subwords, subword_pieces


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


def _has_special(lines: list[str]) -> bool:
    """Whether a line holds a reserved marker (``<unk>``...), which Treebank rules must not split."""
    return any(_SPECIAL_RE.search(line) for line in lines if "<" in line)


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
    rules_of = {
        "STARTING_QUOTES": rules(base.STARTING_QUOTES), "PUNCTUATION": rules(base.PUNCTUATION),
        "ENDING_QUOTES": rules(base.ENDING_QUOTES), "CONVERT_PARENTHESES": rules(base.CONVERT_PARENTHESES),
        "PARENS_BRACKETS": rules([base.PARENS_BRACKETS])[0], "DOUBLE_DASHES": rules([base.DOUBLE_DASHES])[0],
        "CONTRACTIONS2": [plain(p) for p in base.CONTRACTIONS2],
        "CONTRACTIONS3": [plain(p) for p in base.CONTRACTIONS3],
    }
    fast = type("StdlibTreebankWordTokenizer", (base,), {
        **rules_of,
        "tokenize": _guarded_treebank_tokenize,
        "tokenize_lines": _treebank_tokenize_lines,
        "text_phases": _Phases.of(rules_of),
        # the same phases with patterns that cannot match across a line end, for many lines at once
        "line_phases": _Phases.of(_line_bound_rules(rules_of)),
    })
    tokenizer = fast()
    # lines a chunk at a time, only with the rules _ChunkTokens was reasoned for
    known = treebank_rules_fingerprint(rules_of) == TREEBANK_RULES_READ
    tokenizer.chunk_tokens = {False: _ChunkTokens(), True: _ChunkTokens()} if known else None
    return tokenizer


def known_chunks(convert_parentheses: bool = False) -> dict[str, tuple[str, ...] | None]:
    """A copy of the Treebank chunks this process has tokenized and kept (``_ChunkTokens``),
    for a worker process to start from (``keep_chunks``): a worker that starts with them
    meets far fewer chunks for the first time. Empty where chunking is off, nothing was
    tokenized here (NLTK is not imported for it), or the cache is past the bounds a worker
    would keep."""
    if not treebank_tokenizer.cache_info().currsize:
        return {}
    chunk_tokens = treebank_tokenizer().chunk_tokens
    cache = chunk_tokens[convert_parentheses] if chunk_tokens else None
    if cache is None or cache.past_bounds():
        return {}
    return dict(cache.known)


def keep_chunks(known: dict[str, tuple[str, ...] | None], convert_parentheses: bool = False) -> None:
    """Chunks from ``known_chunks`` of another process kept here."""
    chunk_tokens = treebank_tokenizer().chunk_tokens if known else None
    if chunk_tokens:
        chunk_tokens[convert_parentheses].keep(known)


# The fingerprint of NLTK's Treebank rules (patterns and substitutions, as in NLTK 3.10) that
# _ChunkTokens was reasoned for: NLTK changing any rule turns chunking off.
TREEBANK_RULES_READ = "c2726719805a84aa"


def treebank_rules_fingerprint(rules_of: dict) -> str:
    """A hash of the rules' patterns and substitutions, phase by phase, in order."""
    import hashlib

    parts = []
    for name in sorted(rules_of):
        rules = rules_of[name]
        for rule in [rules] if name in ("PARENS_BRACKETS", "DOUBLE_DASHES") else rules:
            pattern, substitution = (rule, "") if isinstance(rule, re.Pattern) else rule
            parts.append(f"{name}\x00{pattern.pattern}\x00{substitution}")
    return hashlib.sha256("\x01".join(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class _Phases:
    """NLTK's ``tokenize``, phase by phase, each guarded (``_guarded``); ENDING_QUOTES onwards
    (``padded``) see the text padded with spaces."""

    first: list
    convert: tuple
    dashes: tuple
    padded: list

    @classmethod
    def of(cls, r: dict | None) -> "_Phases | None":
        if r is None:
            return None
        return cls(first=[_guarded(phase) for phase in (r["STARTING_QUOTES"], r["PUNCTUATION"], [r["PARENS_BRACKETS"]])],
                   convert=_guarded(r["CONVERT_PARENTHESES"]), dashes=_guarded([r["DOUBLE_DASHES"]]),
                   padded=[_guarded(phase) for phase in (
                       r["ENDING_QUOTES"], [(p, r" \1 \2 ") for p in r["CONTRACTIONS2"] + r["CONTRACTIONS3"]])])

    def run(self, text: str, convert_parentheses: bool, pad, lines: int = 0) -> str:
        """The phases over ``text`` (``lines`` joined lines: see ``_substitute``)."""
        for phase in self.first:
            text = _substitute(phase, text, lines)
        if convert_parentheses:
            text = _substitute(self.convert, text, lines)
        text = pad(_substitute(self.dashes, text, lines))
        for phase in self.padded:
            text = _substitute(phase, text, lines)
        return text


# What a line-bound pattern was made from, for its skip test (``_TREEBANK_NEEDLES``).
_LINE_BOUND_FROM: dict[str, str] = {}
_NEWLINE_ESCAPES = ("\\s", "\\W", "\\D")  # escapes that can match a newline
_READ_ESCAPES = set("sSdDwWbB")  # the letter escapes _line_bound knows (any other: no chunking)
_READ_GROUPS = ("(?:", "(?#", "(?=", "(?!", "(?<=", "(?<!", "(?i)")  # the (? groups it knows


def _line_bound(pattern: re.Pattern) -> re.Pattern | None:
    """``pattern`` for many lines joined by newlines: it matches within one line exactly where
    the original matches in that line alone. ``^``/``$`` anchor at line ends (MULTILINE), and
    what could match a newline no longer does: ``\\s`` becomes ``[^\\S\\n]`` and every negated
    class gains ``\\n`` (without DOTALL, ``.`` never matches one). None for a pattern this
    cannot read so (another construct that could match a newline): no chunking then."""
    if pattern.flags & (re.DOTALL | re.VERBOSE | re.MULTILINE):
        return None
    source, out, i = pattern.pattern, [], 0
    in_class = negated = False
    class_body = 0  # where the open class's members start: a "]" there is a literal
    while i < len(source):
        c = source[i]
        if c == "\\":
            escape = source[i: i + 2]
            if escape[1:].isalnum() and escape[1:] not in _READ_ESCAPES:
                return None  # \A, \Z, \x0a, \n, \1 ...: what they match was not read here
            if escape in _NEWLINE_ESCAPES and not negated:
                if in_class or escape != "\\s":
                    return None
                escape = r"[^\S\n]"
            out.append(escape)
            i += 2
        elif in_class:
            if c == "]" and i > class_body:
                out.append("\\n]" if negated else "]")
                in_class = negated = False
            else:
                out.append(c)
            i += 1
        elif c == "(" and source.startswith("(?", i) and not source.startswith(_READ_GROUPS, i):
            return None  # inline flags (DOTALL, say) or named groups: not read here
        elif c == "[":
            negated = source.startswith("[^", i)
            class_body = i + (2 if negated else 1)
            in_class = True
            out.append(source[i: class_body])
            i = class_body
        else:
            out.append(c)
            i += 1
    if in_class:
        return None
    bound = re.compile("".join(out), pattern.flags | re.MULTILINE)
    _LINE_BOUND_FROM[bound.pattern] = pattern.pattern
    return bound


def _line_bound_rules(rules_of: dict) -> dict | None:
    def bound(rule):
        if isinstance(rule, re.Pattern):
            return _line_bound(rule)
        pattern, substitution = rule
        if "\n" in substitution:
            return None
        bounded = _line_bound(pattern)
        return None if bounded is None else (bounded, substitution)

    out = {}
    for name, rules in rules_of.items():
        bounded = bound(rules) if name in ("PARENS_BRACKETS", "DOUBLE_DASHES") else [bound(r) for r in rules]
        if bounded is None or (isinstance(bounded, list) and None in bounded):
            return None
        out[name] = bounded
    return out


# Literal strings at least one of which a text must contain for a Treebank rule to
# match, by the rule's pattern. A typical line matches only a few of the ~25 rules,
# and a substring test costs a small fraction of a regex pass, so testing first made
# tokenizing several times faster (docs/benchmarks.md). A rule missing here (NLTK
# added or changed one) simply always runs.
_TREEBANK_NEEDLES = {
    r'^\"': ('"',),
    r'(``)': ('``',),
    r'([ \(\[{<])(\"|\'{2})': ('"', "''"),
    r'([:,])([^\d])': (':', ','),
    r'([:,])$': (':', ','),
    r'\.\.\.': ('...',),
    r'[;@#$%&]': tuple(';@#$%&'),
    r'([^\.])(\.)([\]\)}>"\']*)\s*$': ('.',),
    r'[?!]': ('?', '!'),
    r"([^'])' ": ("' ",),
    r'[\]\[\(\)\{\}\<\>]': tuple('[](){}<>'),
    r'--': ('--',),
    r"''": ("''",),
    r'"': ('"',),
    r"([^' ])('[sS]|'[mM]|'[dD]|') ": ("' ", "'s ", "'S ", "'m ", "'M ", "'d ", "'D "),
    r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ": ("'ll ", "'LL ", "'re ", "'RE ", "'ve ", "'VE ", "n't ", "N'T "),
    r'\(': ('(',), r'\)': (')',), r'\[': ('[',), r'\]': (']',), r'\{': ('{',), r'\}': ('}',),
    r'(?i)\b(can)(?#X)(not)\b': ('cannot',),
    r"(?i)\b(d)(?#X)('ye)\b": ("d'ye",),
    r'(?i)\b(gim)(?#X)(me)\b': ('gimme',),
    r'(?i)\b(gon)(?#X)(na)\b': ('gonna',),
    r'(?i)\b(got)(?#X)(ta)\b': ('gotta',),
    r'(?i)\b(lem)(?#X)(me)\b': ('lemme',),
    r"(?i)\b(more)(?#X)('n)\b": ("more'n",),
    r'(?i)\b(wan)(?#X)(na)(?=\s)': ('wanna',),
    r"(?i) ('t)(?#X)(is)\b": (" 't",),
    r"(?i) ('t)(?#X)(was)\b": (" 't",),
}


class _Needles:
    """A rule's (or a phase's) skip test: false only for texts none of its patterns can
    match, as the text lacks every literal they need (``_TREEBANK_NEEDLES``). Needles of
    case-insensitive rules are looked for in the folded text (``fold_for_needles``), so
    that Unicode case folding ("\u212a", the Kelvin sign, matches "k") counts as it does
    in the rules."""

    def __init__(self, needles: list[str], ignore_case: bool):
        self.needles = list(dict.fromkeys(n.lower() for n in needles) if ignore_case else dict.fromkeys(needles))
        self.ignore_case = ignore_case

    def __call__(self, text: str) -> bool:
        text = _folded(text) if self.ignore_case else text
        return any(needle in text for needle in self.needles)

    def lines(self, text: str, at_most: int) -> list[tuple[int, int]] | None:
        """The (start, end) of each line of ``text`` that holds a needle, in order; None when
        there are more than ``at_most`` needles (running the rule over all is cheaper then)."""
        folded = _folded(text) if self.ignore_case else text  # the same length: fold_for_needles keeps it
        if sum(folded.count(needle) for needle in self.needles) > at_most:
            return None
        found = []
        for needle in self.needles:
            at = folded.find(needle)
            while at >= 0:
                found.append(at)
                at = folded.find(needle, at + 1)
        spans = []
        for at in sorted(found):
            if spans and at < spans[-1][1]:
                continue  # on the line just taken (many needles on one long line: no rescans)
            end = text.find("\n", at)
            spans.append((text.rfind("\n", 0, at) + 1, len(text) if end < 0 else end))
        return spans


def _always(text: str) -> bool:
    return True


def _guard(patterns: list[re.Pattern]):
    """The skip test for ``patterns`` (``_Needles``), or ``_always`` for a rule we have not
    read as it is."""
    needles = []
    for pattern in patterns:
        source = _LINE_BOUND_FROM.get(pattern.pattern, pattern.pattern)
        if source not in _TREEBANK_NEEDLES or pattern.flags & ~(re.UNICODE | re.IGNORECASE | re.MULTILINE):
            return _always  # (VERBOSE would make its spaces mean nothing)
        needles += _TREEBANK_NEEDLES[source]
    ignore_case = any(p.flags & re.IGNORECASE for p in patterns)
    if ignore_case and not all(needle.isascii() for needle in needles):
        return _always
    return _Needles(needles, ignore_case)


# The only characters that re's IGNORECASE matches to ASCII letters apart from the letters'
# own cases (tests/test_tokenize.py checks every code point): with them mapped, a lowered
# text holds an ASCII needle wherever a case-insensitive search would find it.
_FOLD_TO_ASCII = (("\u0130", "i"), ("\u0131", "i"), ("\u017f", "s"), ("\u212a", "k"))
_last_folded: tuple[str, str] = ("", "")


def fold_for_needles(text: str) -> str:
    """``text`` lowered, with ``_FOLD_TO_ASCII`` applied first (str.replace: translate with a
    table is several times slower on non-ASCII text)."""
    if not text.isascii():
        for char, letter in _FOLD_TO_ASCII:
            if char in text:
                text = text.replace(char, letter)
    return text.lower()


def _folded(text: str) -> str:
    """``fold_for_needles(text)``, the last one kept: a phase's rules ask for the same text
    one after another."""
    global _last_folded
    last = _last_folded
    if last[0] is text:
        return last[1]
    folded = fold_for_needles(text)
    _last_folded = (text, folded)
    return folded


def _guarded(rules):
    """(test for any of them, [(test, pattern, substitution), ...]) for [(pattern, substitution), ...]."""
    return _guard([p for p, _ in rules]), [(_guard([p]), p, sub) for p, sub in rules]


def _substitute(phase, text: str, lines: int = 0) -> str:
    """``phase``'s rules over ``text``, each skipped where it cannot match. With ``lines``
    (``text`` is that many lines joined, the patterns line-bound), a rule whose needles are
    on few of the lines runs on just those lines: a regex pass over every character is the
    cost that chunking leaves, and most rules concern a few lines in a hundred."""
    may_match_any, rules = phase
    if may_match_any(text):
        for may_match, pattern, substitution in rules:
            spans = may_match.lines(text, lines // 2) if lines and may_match is not _always else None
            if spans is None:
                if may_match(text):
                    text = pattern.sub(substitution, text)
            elif spans:
                pieces, done = [], 0
                for start, end in spans:
                    pieces += (text[done:start], pattern.sub(substitution, text[start:end]))
                    done = end
                pieces.append(text[done:])
                text = "".join(pieces)
    return text


def _guarded_treebank_tokenize(self, text: str, convert_parentheses: bool = False) -> list[str]:
    """NLTK's ``TreebankWordTokenizer.tokenize``: its rules in the same order, each
    skipped when the text lacks every string it needs (``_TREEBANK_NEEDLES``), where it
    would have substituted nothing."""
    return self.text_phases.run(text, convert_parentheses, lambda t: " " + t + " ").split()


def _treebank_tokenize_lines(self, lines: list[str], convert_parentheses: bool = False) -> list[list[str]]:
    """``tokenize`` of each line, all lines at once: a space-separated chunk at a time from the
    chunks seen before (``_ChunkTokens``) where the rules are the ones read here, and the rest
    through the rules once over their join (``_tokenize_joined``)."""
    if self.chunk_tokens is None:
        return _tokenize_joined(self, lines, convert_parentheses)
    return self.chunk_tokens[convert_parentheses](self, lines, convert_parentheses)


def _tokenize_joined(self, lines: list[str], convert_parentheses: bool = False, few_lines: bool = True) -> list[list[str]]:
    """``tokenize`` of each line, all lines at once: joined by newlines, each rule runs once
    over them all with its line-bound pattern (``_line_bound``), instead of once a line from
    Python (several times faster on prose; the same tokens, tests/test_tokenize.py). A line
    that holds a newline itself is tokenized alone. ``few_lines``: a rule that concerns few
    of the lines runs on just those (``_substitute``); not worth it on short lines."""
    if self.line_phases is None or len(lines) < 2:
        return [self.tokenize(line, convert_parentheses) for line in lines]
    alone = {i: self.tokenize(line, convert_parentheses) for i, line in enumerate(lines) if "\n" in line}
    text = "\n".join("" if i in alone else line for i, line in enumerate(lines))
    text = self.line_phases.run(text, convert_parentheses, lambda t: " " + t.replace("\n", " \n ") + " ",
                                len(lines) if few_lines else 0)
    global _last_folded
    _last_folded = ("", "")  # the joined text's folded copy is not kept for the process's life
    out = [piece.split() for piece in text.split("\n")]
    if len(out) != len(lines):  # cannot happen: no rule matches or writes a newline
        raise AssertionError("Treebank rules changed the number of lines")
    for i, tokens in alone.items():
        out[i] = tokens
    return out


# A word after a chunk that no rule touches, so that the chunk does not end the text.
_INERT_WORD = "a"
# The needles an ASCII letters-and-digits chunk can hold ("cannot", "gonna", ...): one that holds
# none has no rule's needle in its context either (every other needle has a mark or a space
# beside a mark), so no rule applies to it and it is its own token.
_PLAIN_WORD_NEEDLE = re.compile("|".join(sorted({n for needles in _TREEBANK_NEEDLES.values() for n in needles if n.isalnum()})),
                                re.IGNORECASE)
KEPT_CHUNK_CHARS = 64  # longer chunks are tokenized each time they come
# Marks put around each line, so that a chunk's key says whether it starts or ends its line.
_START, _END = "\x02", "\x03"
_BLANK_END = re.compile(r"\s\x03")  # a line that ends in white space


class _ChunkTokens:
    """Treebank tokens of lines put together from the tokens of their space-separated chunks,
    each chunk's found once and kept.

    Why the pieces add up (NLTK's rules as ``_TREEBANK_NEEDLES`` lists them; any other rule
    turns this off): no rule joins text across a space (every rewrite writes back the spaces
    it matched), and no rule looks further than the one space beside a chunk, except at the
    line's two ends (``^"``; the sentence-final period's ``\\s*$``). So a chunk's tokens
    depend on its text and on whether it starts the line, ends it, both or neither: in the
    middle they are those of ``" chunk a"`` less the inert last word, first ``"chunk a"``,
    last ``" chunk"``, alone ``"chunk"``. A line that ends in white space (its last chunk
    would not end the line) goes whole. The hypothesis tests in tests/test_tokenize.py hold
    the result to NLTK line by line. Text is Zipfian, so most chunks were seen before, and a
    dictionary lookup costs far less than some twenty regular-expression passes.

    The lines are joined into one string with their ends marked (``_START``, ``_END``) and
    split at spaces, so that each chunk's key (its text, marked where it starts or ends a
    line) comes out of one C call, and its tokens out of one more: no step through Python for
    each chunk. A line's last chunk carries the line end (EOS) after its tokens.

    Thread-safe without a lock: a call takes the dictionary it starts with (a new one when
    it holds LIMIT chunks or 2 x LIMIT tokens), and entries are only added (a race can only
    repeat work). Memory stays bounded on any corpus and under any request: at most LIMIT
    chunks, none longer than KEPT_CHUNK_CHARS, with 2 x LIMIT tokens among them (~25 MB on
    prose, ~60 MB at worst), and what one call adds.
    """

    LIMIT = 1 << 17  # chunks kept
    # Chunks pay where most were seen before: on prose, after the first batches, 85-95% of a
    # batch's are; on Korean reviews (eojeol words) 40% are new however much was read, and
    # there the rules over whole lines cost 0.6x what chunks cost (docs/benchmarks.md). So a
    # call first looks at its first SAMPLE_LINES: with more than NEW_AT_MOST of their chunks
    # new, it tokenizes its lines whole, and learns the sample's chunks (for the calls after)
    # at the 1st, 2nd, 4th, 8th... such call in a row, and every LEARN_AT_LEAST_EVERY-th:
    # prose soon goes by chunks, Korean reviews seldom pay for learning, and a server that
    # answered Korean soon learns the English that comes after. The tokens are the same.
    SAMPLE_LINES = 512
    NEW_AT_MOST = 0.3
    LEARN_AT_LEAST_EVERY = 64

    def __init__(self):
        self.known: dict[str, tuple[str, ...] | None] = {}
        self.whole_calls = 0  # calls in a row that went whole
        self.kept_tokens = 0  # tokens of the chunks in ``known``

    def keep(self, known: dict[str, tuple[str, ...] | None]) -> None:
        """Chunks learned elsewhere (another process's ``known``) kept as if learned here,
        unless they would pass the bounds."""
        new = {key: tokens for key, tokens in known.items() if key not in self.known}
        tokens = sum(map(len, filter(None, new.values())))
        if not self.past_bounds(len(new), tokens):
            self.known.update(new)
            self.kept_tokens += tokens

    def past_bounds(self, more_chunks: int = 0, more_tokens: int = 0) -> bool:
        """Whether the cache (with that much more) holds more than LIMIT chunks or 2 x LIMIT tokens."""
        return len(self.known) + more_chunks > self.LIMIT or self.kept_tokens + more_tokens > 2 * self.LIMIT

    def __call__(self, tokenizer, lines: list[str], convert_parentheses: bool) -> list[list[str]]:
        """Each line's tokens."""
        if not self._chunks_pay(tokenizer, lines, convert_parentheses):
            return _tokenize_joined(tokenizer, lines, convert_parentheses)
        values, chunked = self._values(tokenizer, lines, convert_parentheses)
        out, start = [], 0
        for count in _chunk_counts(chunked):
            tokens = list(chain.from_iterable(values[start: start + count]))
            tokens.pop()  # the line end
            out.append(tokens)
            start += count
        return out

    def flat(self, tokenizer, lines: list[str], convert_parentheses: bool) -> list[str]:
        """The tokens of all the lines, EOS after each line's."""
        if not self._chunks_pay(tokenizer, lines, convert_parentheses):
            end = (EOS,)
            return list(chain.from_iterable(chain(t, end) for t in _tokenize_joined(tokenizer, lines, convert_parentheses)))
        return list(chain.from_iterable(self._values(tokenizer, lines, convert_parentheses)[0]))

    def _chunks_pay(self, tokenizer, lines: list[str], convert_parentheses: bool) -> bool:
        """Whether most chunks of the first lines were seen before; if not, those lines' are
        learned (the chunks of the next calls may be)."""
        if len(lines) < self.SAMPLE_LINES:
            return True
        sample = lines[: self.SAMPLE_LINES]
        keys = (_START + (_END + " " + _START).join(sample) + _END).split(" ")
        if len(set(keys).difference(self.known)) <= self.NEW_AT_MOST * len(keys):
            self.whole_calls = 0
            return True
        self.whole_calls = n = self.whole_calls + 1
        if n & (n - 1) == 0 or n % self.LEARN_AT_LEAST_EVERY == 0:  # the 1st, 2nd, 4th, 8th... in a row
            self._values(tokenizer, sample, convert_parentheses)
        return False

    def _values(self, tokenizer, lines: list[str], convert_parentheses: bool) -> tuple[list[tuple[str, ...]], list[str]]:
        """The tokens of each chunk of ``lines`` in order, a line's last chunk's followed by EOS;
        and the lines as chunked (those that go whole stood in for by an empty line)."""
        if not lines:
            return [], lines
        known = self.known
        if self.past_bounds():
            known = self.known = {}
            self.kept_tokens = 0
        given = lines
        text = _START + (_END + " " + _START).join(lines) + _END
        whole = []  # lines that go whole: they end in white space, hold a newline or one of the marks
        if (text.count(_START) != len(lines) or text.count(_END) != len(lines) or "\n" in text
                or _BLANK_END.search(text)):
            whole = [i for i, line in enumerate(lines)
                     if line[-1:].isspace() or "\n" in line or _START in line or _END in line]
            if whole:  # in their place an empty line, its tokens put right below
                lines = list(lines)
                for i in whole:
                    lines[i] = ""
                text = _START + (_END + " " + _START).join(lines) + _END
        keys = text.split(" ")
        values = list(map(known.get, keys))
        if None in values:
            learned = self._learn(tokenizer, convert_parentheses, set(keys).difference(known))
            values = list(map(learned.get, keys, values))
            # kept for later lines: all but long chunks (text without spaces), seldom seen twice
            kept = {key: v for key, v in learned.items() if len(key) <= KEPT_CHUNK_CHARS}
            known.update(kept)
            self.kept_tokens += sum(map(len, filter(None, kept.values())))
            if None in values:  # a chunk whose tokens do not come out of its context alone: its line goes whole
                ends = list(accumulate(_chunk_counts(lines)))
                whole = sorted(set(whole).union(bisect_right(ends, at) for at, v in enumerate(values) if v is None))
        if whole:
            ends = list(accumulate(_chunk_counts(lines)))
            for i, tokens in zip(whole, _tokenize_joined(tokenizer, [given[i] for i in whole], convert_parentheses)):
                start = ends[i - 1] if i else 0
                values[start: ends[i]] = [()] * (ends[i] - start - 1) + [(*tokens, EOS)]
        return values, lines

    @staticmethod
    def _learn(tokenizer, convert_parentheses: bool, keys: set[str]) -> dict[str, tuple[str, ...] | None]:
        """The tokens of the chunks ``keys`` name, each tokenized in its context."""
        needle = _PLAIN_WORD_NEEDLE.search
        # a chunk of letters and digits alone holding none of the contracted words: no rule's
        # needle in its context, so no rule applies. Those in a line's middle (no mark: most
        # of them) are found together, as the rest of a batch's words can be many (Korean).
        plain = [key for key in keys if key.isalnum()]
        if needle("\n".join(plain)):
            plain = [key for key in plain if not needle(key)]
        known: dict[str, tuple[str, ...] | None] = dict(zip(plain, zip(plain)))
        marked = list(keys.difference(plain))
        chunks = "\n".join(marked).replace(_START, "").replace(_END, "").split("\n")  # the marks taken off
        wanted, contexts = [], []
        for key, chunk in zip(marked, chunks):
            ends = key[-1:] == _END
            if chunk.isalnum() and not needle(chunk):
                known[key] = (chunk, EOS) if ends else (chunk,)
                continue
            starts = key[:1] == _START
            wanted.append(key)
            contexts.append(chunk if ends and starts else " " + chunk if ends else
                            chunk + " " + _INERT_WORD if starts else " " + chunk + " " + _INERT_WORD)
        for key, tokens in zip(wanted, _tokenize_joined(tokenizer, contexts, convert_parentheses, False)):
            if key.endswith(_END):
                known[key] = (*tokens, EOS)
            else:  # less the inert word; None (its line goes whole) if it did not come out alone
                known[key] = tuple(tokens[:-1]) if tokens and tokens[-1] == _INERT_WORD else None
        return known


def _chunk_counts(lines: list[str]) -> list[int]:
    """How many space-separated chunks each line has."""
    return [line.count(" ") + 1 for line in lines]


KIWI_BATCH = 512  # texts per call into kiwi's (multithreaded) analyser
TREEBANK_LINES_AT_ONCE = 4096  # lines joined for the Treebank rules at most (memory: a few copies of them)


@lru_cache(maxsize=1)
def kiwi_analyser():
    """kiwipiepy's Korean morpheme analyser (the optional [ko] extra)."""
    try:
        from kiwipiepy import Kiwi
    except ImportError:
        raise InputError("--tokenizer kiwi needs the Korean extra: pip install \"rnntool[ko]\" "
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
    vocab_size: int = 0  # subword tokenizers: the pieces asked for (0: SUBWORD_VOCAB_SIZE)
    subword_model: str = ""  # subword tokenizers: the learned SentencePiece model, base64 (see text/subword.py)

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise InputError(f"unknown level {self.level!r}; use one of: {', '.join(LEVELS)}")
        if self.tokenizer not in WORD_TOKENIZERS:
            raise InputError(f"unknown tokenizer {self.tokenizer!r}; use one of: {', '.join(WORD_TOKENIZERS)}")
        if self.subwords and self.level != "word":
            raise InputError(f"--tokenizer {self.tokenizer} splits text into subword pieces; use --level word "
                             "(or leave --level out)")
        if self.vocab_size and not self.subwords:
            raise InputError("--vocab-size sets the number of subword pieces; give it with --tokenizer bpe or unigram "
                             "(--max-vocab caps a word vocabulary)")
        if self.vocab_size < 0:
            raise OptionError("vocab_size", "must be positive (0: the default)", self.vocab_size)

    @property
    def subwords(self) -> bool:
        """Whether words are split into SentencePiece pieces learned from the training text."""
        return self.tokenizer in SUBWORD_TOKENIZERS

    def learned_from(self, texts) -> "TokenizerSettings":
        """These settings with a subword model learned from ``texts`` (raw lines; cleaned here
        as the tokenizer cleans them) where they need one, else themselves."""
        if not self.subwords or self.subword_model:
            return self
        clean = Tokenizer(self).clean
        return replace(self, subword_model=learn_subwords(self.tokenizer, (clean(t) for t in texts), self.vocab_size))

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
        if self.settings.subwords:
            return subword_pieces(self.settings.subword_model, [line])[0]
        return self._treebank_many([line])[0]

    def tokenize_many(self, lines: list[str]) -> list[list[str]]:
        """``tokenize`` for many lines at once (kiwi analyses them in batches, on every core;
        Treebank rules run once over them all)."""
        if self.settings.level == "word" and self.settings.tokenizer == "kiwi":
            cleaned = self._clean_many(lines)
            # a line of whitespace alone (to Python: \x1c-\x1f too, which Kiwi makes tokens of) has none,
            # as in ``tokenize``
            analysed = iter(kiwi_tokens([line for line in cleaned if line.strip()]))
            return [next(analysed) if line.strip() else [] for line in cleaned]
        if self.settings.subwords:
            return subword_pieces(self.settings.subword_model, self._clean_many(lines))
        if self.settings.level == "word" and self.settings.tokenizer == "treebank":
            return self._treebank_many(self._clean_many(lines))
        return [self.tokenize(line) for line in lines]

    def tokenize_flat(self, lines: list[str]) -> list[str]:
        """The tokens of all ``lines`` in one list, the line end after each line's: what a
        corpus holds. Treebank words come straight from the chunks' tokens (``_ChunkTokens``)."""
        if self.settings.level == "word" and self.settings.tokenizer == "treebank":
            cleaned = self._clean_many(lines)
            tokenizer = treebank_tokenizer()
            if tokenizer.chunk_tokens and not _has_special(cleaned):
                return list(chain.from_iterable(
                    tokenizer.chunk_tokens[False].flat(tokenizer, cleaned[start: start + TREEBANK_LINES_AT_ONCE], False)
                    for start in range(0, len(cleaned), TREEBANK_LINES_AT_ONCE)))
            per_line = self._treebank_many(cleaned)
        else:
            per_line = self.tokenize_many(lines)
        line_end = (self.line_end,)
        return list(chain.from_iterable(chain(tokens, line_end) for tokens in per_line))

    def _clean_many(self, lines: list[str]) -> list[str]:
        """``clean`` of each line; only NFC where no cleaning option is set (a call less a line)."""
        s = self.settings
        return list(map(nfc, lines)) if not (s.ascii or s.lower or s.strip_punct) else list(map(self.clean, lines))

    @staticmethod
    def _treebank_many(lines: list[str]) -> list[list[str]]:
        """Treebank tokens of clean lines. The reserved markers stay whole: the text between
        them is tokenized as if each stretch were a line of its own."""
        if len(lines) > TREEBANK_LINES_AT_ONCE:  # a whole training set: joined copies of it, a part at a time
            return [tokens for start in range(0, len(lines), TREEBANK_LINES_AT_ONCE)
                    for tokens in Tokenizer._treebank_many(lines[start: start + TREEBANK_LINES_AT_ONCE])]
        if not _has_special(lines):
            return treebank_tokenizer().tokenize_lines(lines)
        stretches: list[str] = []
        plan: list[list[str | int]] = []  # per line: markers, and indices into stretches
        for line in lines:
            parts: list[str | int] = []
            for i, piece in enumerate(_SPECIAL_RE.split(line)):
                if i % 2:
                    parts.append(piece)
                elif piece and not piece.isspace():
                    parts.append(len(stretches))
                    stretches.append(piece)
            plan.append(parts)
        tokenized = treebank_tokenizer().tokenize_lines(stretches)
        out = []
        for parts in plan:
            tokens: list[str] = []
            for part in parts:
                if isinstance(part, int):
                    tokens.extend(tokenized[part])
                else:
                    tokens.append(part)
            out.append(tokens)
        return out


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


def make_detokenizer(settings: TokenizerSettings):
    """The detokenizer that undoes the tokenizer of ``settings``."""
    if settings.level == "word" and settings.tokenizer == "kiwi":
        return MorphemeDetokenizer()
    if settings.subwords:
        return SubwordDetokenizer(settings.subword_model, EOS, SPECIALS)
    return Detokenizer(settings.level)
