"""Contextual character-LM features for taggers (Akbik, Blythe and Vollgraf, COLING 2018,
"Contextual String Embeddings for Sequence Labeling").

A sentence is read as one string of characters, its words joined by spaces, by a forward
character language model (left to right) and, optionally, a backward one (``train-lm
--reverse``: right to left). A word is represented by the forward model's top-layer state
after the word's last character and the backward model's after the word's first character
(its last read). The models are frozen: the features of a sentence depend on its words
alone, so training computes them once, here, and tagging computes them the same way -- one
implementation, on the numpy runtime, for both.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from rnntool.errors import InputError
from rnntool.modelfile import ModelFile
from rnntool.runtime.lm import LMRuntime

CHARS_PER_PASS = 32_768  # characters of sentences run through a model at once (bounded memory)
PREFIX = "char_lm"  # a tagger file's tensors of its k-th character model: char_lm.K.<the LM's name>


def lm_entry(model: ModelFile, name: str) -> dict:
    """What a tagger's configuration records of a character model it carries."""
    return {"name": name, "config": model.config, "vocab": model.header["vocab"],
            "tokenizer": model.header["tokenizer"]}


def check_char_lms(models: Sequence[tuple[str, ModelFile]]) -> None:
    """One or two character language models: at most one per direction. Anything else is a
    one-line error that says what to give."""
    if not 1 <= len(models) <= 2:
        raise InputError(f"--char-lm takes one or two language models (FORWARD[,BACKWARD]), not {len(models)}")
    directions = []
    for name, model in models:
        if model.header.get("tokenizer", {}).get("level") != "char":
            raise InputError(f"{name} is a word-level language model; --char-lm takes character models "
                             "(rnntool train-lm TEXT --level char, and --reverse for the backward one)")
        directions.append(bool(model.config.get("reverse")))
    if len(directions) == 2 and directions[0] == directions[1]:
        which = "backward" if directions[0] else "forward"
        raise InputError(f"both --char-lm models read {which}; give one forward model and one trained with "
                         "train-lm --reverse")


class CharLMFeatures:
    """The features of the character models a tagger carries (``entries`` as ``lm_entry``
    records them, their tensors in ``tensors`` under ``char_lm.K.``)."""

    def __init__(self, entries: Sequence[dict], tensors: Mapping[str, np.ndarray]):
        self.models = []
        for k, entry in enumerate(entries):
            prefix = f"{PREFIX}.{k}."
            own = {name[len(prefix):]: t for name, t in tensors.items() if name.startswith(prefix)}
            header = {"kind": "lm", "config": entry["config"], "vocab": entry["vocab"], "tokenizer": entry["tokenizer"]}
            self.models.append(LMRuntime(ModelFile(header, own)))

    @property
    def size(self) -> int:
        return sum(lm.cfg.hidden for lm in self.models)

    def __call__(self, sentences: Sequence[Sequence[str]]) -> np.ndarray:
        """Features [N, size] of every token of ``sentences`` (non-empty token lists), sentence
        after sentence."""
        n = sum(len(s) for s in sentences)
        out = np.empty((n, self.size), dtype=np.float32)
        at, col = 0, 0
        for group in _groups(sentences):
            rows = sum(len(s) for s in group)
            col = 0
            for lm in self.models:
                out[at: at + rows, col: col + lm.cfg.hidden] = word_states(lm, group)
                col += lm.cfg.hidden
            at += rows
        return out


def _groups(sentences: Sequence[Sequence[str]]) -> Iterator[Sequence[Sequence[str]]]:
    start, chars = 0, 0
    for i, s in enumerate(sentences):
        chars += sum(len(w) + 1 for w in s)
        if chars >= CHARS_PER_PASS:
            yield sentences[start: i + 1]
            start, chars = i + 1, 0
    if start < len(sentences):
        yield sentences[start:]


def reading(lm: LMRuntime, words: Sequence[str]) -> tuple[list[int], list[int]]:
    """The ids ``lm`` reads for a sentence -- the start-of-text line end, then the words joined
    by spaces, in the model's direction -- and, per word in sentence order, the position
    whose output represents it: after its last character (forward) or its first (backward)."""
    space = lm.vocab.stoi.get(" ", lm.vocab.unk_id)
    ids, at = [lm.line_end_id], [0] * len(words)
    order = range(len(words) - 1, -1, -1) if lm.reads_backward else range(len(words))
    for n, i in enumerate(order):
        if n:
            ids.append(space)
        chars = lm.encode(words[i])
        ids.extend(reversed(chars) if lm.reads_backward else chars)
        at[i] = len(ids) - 1
    return ids, at


def word_states(lm: LMRuntime, sentences: Sequence[Sequence[str]]) -> np.ndarray:
    """``lm``'s top-layer output at each word's position (``reading``) [N, H], sentence after sentence."""
    read = [reading(lm, s) for s in sentences]
    lengths = np.array([len(ids) for ids, _ in read])
    ids = np.full((int(lengths.max()), len(read)), lm.vocab.pad_id, dtype=np.int64)
    for b, (row, _) in enumerate(read):
        ids[: len(row), b] = row
    h, _ = lm.hidden(ids, lm.zero_state(len(read)), lengths)  # [T, B, H]
    t = np.concatenate([at for _, at in read])
    b = np.repeat(np.arange(len(read)), [len(at) for _, at in read])
    return h[t, b]
