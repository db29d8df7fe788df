"""Frequency-ordered vocabularies with reserved symbols."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from rnntool.errors import InputError, OptionError
from rnntool.text.tokenize import EOS, PAD, SPECIALS, UNK


class Vocab:
    """Token <-> id mapping. ``<pad>`` = 0, ``<unk>`` = 1, ``<eos>`` = 2, then the
    tokens by descending frequency (ties by token, so the order never depends on
    the order the text was read in)."""

    def __init__(self, tokens: Sequence[str], counts: Sequence[int] | None = None):
        if tuple(tokens[: len(SPECIALS)]) != SPECIALS:
            raise InputError(f"vocabulary must start with {', '.join(SPECIALS)}")
        self.itos: list[str] = list(tokens)
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise InputError("vocabulary has duplicate tokens")
        self.counts: list[int] = list(counts) if counts is not None else [0] * len(self.itos)
        self.pad_id = self.stoi[PAD]
        self.unk_id = self.stoi[UNK]
        self.eos_id = self.stoi[EOS]

    @classmethod
    def from_counts(cls, counts: Mapping[str, int], min_freq: int = 1, max_size: int | None = None,
                    always: Sequence[str] = ()) -> "Vocab":
        """Build from token counts. ``max_size`` counts the reserved symbols too. Tokens of
        ``always`` (a subword model's pieces) are kept however rare, after the frequent ones and
        in their own order where unseen, so any text the tokenizer can split has ids."""
        if min_freq < 1:
            raise OptionError("min_freq", "must be at least 1", min_freq)
        if max_size is not None and max_size <= len(SPECIALS):
            raise OptionError("max_vocab", f"must be more than {len(SPECIALS)} (the reserved symbols)", max_size)
        kept = sorted(
            ((t, c) for t, c in counts.items() if c >= min_freq and t not in SPECIALS),
            key=lambda tc: (-tc[1], tc[0]),
        )
        taken = {t for t, _ in kept}
        rest = [t for t in dict.fromkeys(always) if t not in taken and t not in SPECIALS]
        kept += sorted(((t, counts.get(t, 0)) for t in rest), key=lambda tc: -tc[1])  # stable: unseen in model order
        if max_size is not None:
            kept = kept[: max_size - len(SPECIALS)]
        tokens = list(SPECIALS) + [t for t, _ in kept]
        special_counts = [counts.get(s, 0) for s in SPECIALS]
        return cls(tokens, special_counts + [c for _, c in kept])

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def encode(self, tokens: Iterable[str]) -> list[int]:
        get, unk = self.stoi.get, self.unk_id
        return [get(t, unk) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        itos = self.itos
        return [itos[i] for i in ids]

    def lookup_table(self, types: Sequence[str]) -> np.ndarray:
        """ids for a table of token types (index i -> id of types[i])."""
        return np.fromiter((self.stoi.get(t, self.unk_id) for t in types), dtype=np.int64, count=len(types))

    def to_dict(self) -> dict:
        return {"tokens": self.itos, "counts": self.counts}

    @classmethod
    def from_dict(cls, data: Mapping) -> "Vocab":
        try:
            return cls(data["tokens"], data.get("counts"))
        except (KeyError, TypeError):
            raise InputError("vocabulary data is malformed") from None
