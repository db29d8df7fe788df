"""Token features and the recurrent encoder's configuration, shared by the
tagger and the classifier, by torch training and the numpy runtime (torch-free).

Each token gives three features: its word (lowercased, digits folded to 0,
rare words -> <unk>), its characters (case kept; for the character CNN), and
a casing class. Character features depend only on the word type, which lets
the runtime compute them once per type.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

from rnntool.config import CELLS, choice
from rnntool.errors import OptionError, RnntoolError

PAD, UNK = "<pad>", "<unk>"
BOW, EOW = "<w>", "</w>"  # word boundaries for the character CNN: suffixes and prefixes become visible
MAX_WORD_CHARS = 32  # longer tokens keep their first and last 16 characters (bounded memory)
CASES = ("<pad>", "lower", "title", "upper", "mixed", "numeric", "has_digit", "punct", "other")
_DIGITS = re.compile(r"\d")


def normalize_word(word: str) -> str:
    return _DIGITS.sub("0", word.lower())


_CASE = {name: i for i, name in enumerate(CASES)}
_NUMBER = re.compile(r"[\d.,:/\-]+")


def casing(word: str) -> int:
    letters = word.isalpha()  # letters alone (most words) cannot be numeric or hold a digit
    if not letters:
        if word.isdigit() or _NUMBER.fullmatch(word) and any(c.isdigit() for c in word):
            return _CASE["numeric"]
        if any(c.isdigit() for c in word):
            return _CASE["has_digit"]
    if word.islower():
        return _CASE["lower"]
    if word.isupper():
        return _CASE["upper"]
    if word[:1].isupper() and (len(word) == 1 or word[1:].islower()):
        return _CASE["title"]
    if letters or any(c.isalpha() for c in word):
        return _CASE["mixed"]
    if all(not c.isalnum() for c in word):
        return _CASE["punct"]
    return _CASE["other"]


def clip_chars(word: str) -> str:
    if len(word) <= MAX_WORD_CHARS:
        return word
    half = MAX_WORD_CHARS // 2
    return word[:half] + word[-half:]


@dataclass(kw_only=True)
class EncoderConfig:
    """Token features -> a stack of recurrent layers (each bidirectional or not)."""

    words: list[str]  # index -> normalized word; 0 <pad>, 1 <unk>
    chars: list[str]  # index -> character; 0 <pad>, 1 <unk>, 2 <w>, 3 </w>
    word_emb: int = 100
    char_emb: int = 32
    char_filters: int = 64  # 0: no character features
    char_kernel: int = 3
    case_emb: int = 8  # 0: no casing feature
    cell: str = "lstm"
    hidden: int = 128
    layers: int = 1
    dropout: float = 0.33
    normalize_words: bool = True  # lowercase, digits as 0 (off for vocabularies taken from a language model)
    word_stoi: dict = field(default=None, repr=False, compare=False)
    char_stoi: dict = field(default=None, repr=False, compare=False)

    TYPE = "encoder"  # the config's "type" in model files

    def __post_init__(self) -> None:
        choice(self.cell, CELLS, "cell")
        for name in ("word_emb", "char_emb", "char_kernel", "hidden", "layers"):
            if getattr(self, name) < 1:
                raise OptionError(name, "must be at least 1", getattr(self, name))
        for name in ("char_filters", "case_emb"):
            if getattr(self, name) < 0:
                raise OptionError(name, "must be 0 (off) or more", getattr(self, name))
        if not 0.0 <= self.dropout < 1.0:
            raise OptionError("dropout", "must be in [0, 1)", self.dropout)
        self.word_stoi = {w: i for i, w in enumerate(self.words)}
        self.char_stoi = {c: i for i, c in enumerate(self.chars)}
        for what, items, table in (("word", self.words, self.word_stoi), ("character", self.chars, self.char_stoi)):
            if len(table) != len(items):
                raise RnntoolError(f"the {what} vocabulary lists an entry twice")

    @property
    def n_cases(self) -> int:
        return len(CASES)

    @property
    def feature_size(self) -> int:
        return self.word_emb + self.char_filters + self.case_emb

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("word_stoi")
        d.pop("char_stoi")
        return {"type": self.TYPE, **d}

    @classmethod
    def from_dict(cls, data: dict):
        skip = ("word_stoi", "char_stoi")
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k not in skip})

    def word_id(self, word: str) -> int:
        return self.word_stoi.get(normalize_word(word) if self.normalize_words else word, 1)

    def unseen_letters(self, words) -> tuple[list[str], int, int]:
        """The distinct letters of ``words`` that the model's character vocabulary never saw (in
        order of first appearance), how many letters were unseen and how many there were: a
        model trained on English meeting Hangul sees nothing but <unk> characters and still
        answers confidently."""
        unseen: dict[str, None] = {}
        letters = unseen_count = 0
        for word in words:
            for c in word:
                if c.isalpha():
                    letters += 1
                    if c not in self.char_stoi:
                        unseen[c] = None
                        unseen_count += 1
        return list(unseen), unseen_count, letters

    def char_ids(self, word: str) -> list[int]:
        return self.char_id_array([word])[0].tolist()

    def char_id_array(self, words: Sequence[str]):
        """The character ids of many words at once: (ids, lengths) -- numpy arrays, every word's
        ids one after another as <w>, its characters (clipped, see ``clip_chars``; unknown ones
        <unk>), </w>. Looked up as code points in a sorted table, not character by character in
        Python: the runtime computes these for every new word type it meets."""
        import numpy as np  # not at the module's import: the CLI's start-up reads this module

        keys, values = self._char_table()
        clipped = [clip_chars(w) for w in words]
        inner = np.fromiter(map(len, clipped), dtype=np.int64, count=len(clipped))
        codes = np.frombuffer("".join(clipped).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        found = np.searchsorted(keys, codes)
        np.minimum(found, max(len(keys) - 1, 0), out=found)
        chars = np.where(keys[found] == codes, values[found], 1) if len(keys) else np.ones(len(codes), np.int32)
        lengths = inner + 2
        ends = np.cumsum(lengths)
        ids = np.empty(int(ends[-1]) if len(ends) else 0, dtype=np.int32)
        is_char = np.ones(len(ids), dtype=bool)
        is_char[ends - lengths] = is_char[ends - 1] = False
        ids[ends - lengths], ids[ends - 1] = 2, 3
        ids[is_char] = chars
        return ids, lengths

    def char_id_matrix(self, words: Sequence[str]):
        """``char_id_array`` as a matrix: (ids [N, longest] int32, 0-padded on the right, lengths)."""
        import numpy as np

        ids, lengths = self.char_id_array(words)
        matrix = np.zeros((len(lengths), int(lengths.max(initial=1))), np.int32)
        within = np.arange(len(ids)) - np.repeat(np.cumsum(lengths) - lengths, lengths)  # each id's place in its word
        matrix[np.repeat(np.arange(len(lengths)), lengths), within] = ids
        return matrix, lengths

    def _char_table(self):
        """(code points, ids) of the one-character vocabulary entries, sorted by code point."""
        table = self.__dict__.get("_char_lookup")  # made once, on first use; not a dataclass field
        if table is None:
            import numpy as np

            singles = sorted((ord(c), i) for c, i in self.char_stoi.items() if len(c) == 1)
            table = (np.array([c for c, _ in singles], dtype=np.uint32), np.array([i for _, i in singles], dtype=np.int32))
            self.__dict__["_char_lookup"] = table
        return table


def build_vocabularies(token_lists: Sequence[Sequence[str]], min_word_freq: int = 1,
                       max_words: int | None = None) -> tuple[list[str], list[str], dict[str, int]]:
    """Word and character vocabularies from training token lists (frequency order; ties
    alphabetical); ``max_words`` caps the words (reserved symbols included)."""
    return vocabularies_from_counts(Counter(w for tokens in token_lists for w in tokens), min_word_freq, max_words)


def vocabularies_from_counts(token_counts: Mapping[str, int], min_word_freq: int = 1,
                             max_words: int | None = None) -> tuple[list[str], list[str], dict[str, int]]:
    """``build_vocabularies`` from how often each distinct token occurs (a streamed
    training set's counts: the same vocabularies without the token lists)."""
    words = normalized_counts(token_counts, normalize_word)
    chars: Counter = Counter()
    for w, n in token_counts.items():
        for c in clip_chars(w):
            chars[c] += n
    kept = [w for w, c in sorted(words.items(), key=lambda x: (-x[1], x[0])) if c >= min_word_freq]
    if max_words is not None:
        kept = kept[: max(0, max_words - 2)]
    char_list = [PAD, UNK, BOW, EOW] + [c for c, _ in sorted(chars.items(), key=lambda x: (-x[1], x[0]))]
    return [PAD, UNK] + kept, char_list, dict(words)


def normalized_counts(token_counts: Mapping[str, int], normal) -> Counter:
    """The counts of ``normal(token)`` (tokens that normalise alike pool their counts)."""
    out: Counter = Counter()
    for w, n in token_counts.items():
        out[normal(w)] += n
    return out


UNSEEN_SHARE = 0.5  # more of the letters than this unknown to the model: its answers are guesses
UNSEEN_SAMPLE = 200  # letters looked at before deciding


class UnseenLetterCheck:
    """Warns once (through ``warn``) when most of the first letters of an input are unknown to a
    model's character vocabulary -- an English model meeting Hangul -- for ``tag`` and
    ``classify``, which stream: it looks at batches until it has seen enough letters."""

    def __init__(self, cfg, model: str, answers: str, warn):
        self.cfg, self.model, self.answers, self.warn = cfg, model, answers, warn
        self.letters = self.unseen_count = 0
        self.unseen: list[str] = []
        self.done = not cfg.char_filters  # no character vocabulary to compare with

    def check(self, words) -> None:
        if self.done:
            return
        unseen, unseen_count, letters = self.cfg.unseen_letters(words)
        self.letters += letters
        self.unseen_count += unseen_count
        self.unseen += [c for c in unseen if c not in self.unseen]
        if self.letters >= UNSEEN_SAMPLE or letters == 0:
            self.done = True
        if self.letters and self.unseen_count > UNSEEN_SHARE * self.letters:
            self.done = True
            self.warn(f"this {self.model} never saw most of these letters "
                      f"({' '.join(self.unseen[:8])}); its {self.answers} for them are guesses -- train a "
                      f"{self.model} on text in this script (rnntool train-{self.model})")

