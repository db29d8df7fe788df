"""Tagger configuration and input features, shared by torch training and the
numpy runtime (torch-free).

Each token gives three features: its word (lowercased, digits folded to 0,
rare words -> <unk>), its characters (case kept; for the character CNN), and
a casing class. Character features depend only on the word type, which lets
the runtime compute them once per type.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from rnntool.config import CELLS, choice
from rnntool.errors import RnntoolError

PAD, UNK = "<pad>", "<unk>"
BOW, EOW = "<w>", "</w>"  # word boundaries for the character CNN: suffixes and prefixes become visible
MAX_WORD_CHARS = 32  # longer tokens keep their first and last 16 characters (bounded memory)
CASES = ("<pad>", "lower", "title", "upper", "mixed", "numeric", "has_digit", "punct", "other")
_DIGITS = re.compile(r"\d")


def normalize_word(word: str) -> str:
    return _DIGITS.sub("0", word.lower())


def casing(word: str) -> int:
    if word.isdigit() or re.fullmatch(r"[\d.,:/\-]+", word) and any(c.isdigit() for c in word):
        return CASES.index("numeric")
    if any(c.isdigit() for c in word):
        return CASES.index("has_digit")
    if word.islower():
        return CASES.index("lower")
    if word.isupper():
        return CASES.index("upper")
    if word[:1].isupper() and (len(word) == 1 or word[1:].islower()):
        return CASES.index("title")
    if any(c.isalpha() for c in word):
        return CASES.index("mixed")
    if all(not c.isalnum() for c in word):
        return CASES.index("punct")
    return CASES.index("other")


def clip_chars(word: str) -> str:
    if len(word) <= MAX_WORD_CHARS:
        return word
    half = MAX_WORD_CHARS // 2
    return word[:half] + word[-half:]


@dataclass
class TaggerConfig:
    words: list[str]  # index -> normalized word; 0 <pad>, 1 <unk>
    chars: list[str]  # index -> character; 0 <pad>, 1 <unk>, 2 <w>, 3 </w>
    tags: list[str]
    word_emb: int = 100
    char_emb: int = 32
    char_filters: int = 64  # 0: no character features
    char_kernel: int = 3
    case_emb: int = 8  # 0: no casing feature
    cell: str = "lstm"
    hidden: int = 128
    layers: int = 1
    dropout: float = 0.33
    crf: bool = False
    scheme: str | None = None  # "iob2" for entity tags (converted from IOB1 if needed)
    column: str | None = None  # which input column the tags came from
    word_stoi: dict = field(default=None, repr=False, compare=False)
    char_stoi: dict = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.tags:
            raise RnntoolError("the training data has no tags")
        choice(self.cell, CELLS, "cell")
        for name in ("word_emb", "char_emb", "char_kernel", "hidden", "layers"):
            if getattr(self, name) < 1:
                raise RnntoolError(f"--{name.replace('_', '-')} must be at least 1")
        for name in ("char_filters", "case_emb"):
            if getattr(self, name) < 0:
                raise RnntoolError(f"--{name.replace('_', '-')} must be 0 (off) or more")
        if not 0.0 <= self.dropout < 1.0:
            raise RnntoolError(f"--dropout must be in [0, 1), got {self.dropout}")
        self.word_stoi = {w: i for i, w in enumerate(self.words)}
        self.char_stoi = {c: i for i, c in enumerate(self.chars)}

    @property
    def n_cases(self) -> int:
        return len(CASES)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("word_stoi")
        d.pop("char_stoi")
        return {"type": "bilstm-tagger", **d}

    @classmethod
    def from_dict(cls, data: dict) -> "TaggerConfig":
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k not in ("word_stoi", "char_stoi")})

    def word_id(self, word: str) -> int:
        return self.word_stoi.get(normalize_word(word), 1)

    def char_ids(self, word: str) -> list[int]:
        get = self.char_stoi.get
        return [2, *(get(c, 1) for c in clip_chars(word)), 3]


def build_vocabularies(sentences, min_word_freq: int = 1) -> tuple[list[str], list[str], dict[str, int]]:
    """Word and character vocabularies from training sentences (frequency order)."""
    from collections import Counter

    words = Counter(normalize_word(w) for s in sentences for w in s.words)
    chars = Counter(c for s in sentences for w in s.words for c in clip_chars(w))
    word_list = [PAD, UNK] + [w for w, c in sorted(words.items(), key=lambda x: (-x[1], x[0])) if c >= min_word_freq]
    char_list = [PAD, UNK, BOW, EOW] + [c for c, _ in sorted(chars.items(), key=lambda x: (-x[1], x[0]))]
    return word_list, char_list, dict(words)
