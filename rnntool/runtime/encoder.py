"""The recurrent text encoder on the numpy runtime, shared by the tagger and the
classifier: token features (word embedding, character CNN computed once per word
type, casing) and the packed recurrent stack.

Every first-layer input depends on the word string alone, so its input
projection is computed once per word type and kept: per direction, a table with
one row of gate inputs per type, read a step at a time by the scan.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from rnntool.features import EncoderConfig, casing
from rnntool.runtime.cells import Packing, RNNStack

TYPE_CACHE_LIMIT = 20_000  # word types whose first-layer gates are kept (~4 KB each at hidden 128)


def token_budget_batches(lengths: Sequence[int], budget: int) -> Iterator[slice]:
    """Consecutive runs of items (as slices of ``lengths``) of at most ``budget`` tokens each
    -- one forward pass apiece; an item longer than the budget is a run of its own."""
    start = 0
    while start < len(lengths):
        end, tokens = start, 0
        while end < len(lengths) and (end == start or tokens + lengths[end] <= budget):
            tokens += lengths[end]
            end += 1
        yield slice(start, end)
        start = end


class TextEncoder:
    def __init__(self, cfg: EncoderConfig, tensors: Mapping[str, np.ndarray], bidirectional: bool = True):
        self.cfg = cfg
        t = tensors
        self.word_emb = t["word_embedding.weight"]
        self.case_emb = t.get("case_embedding.weight") if cfg.case_emb else None
        if cfg.char_filters:
            self.char_emb = t["chars.embedding.weight"]
            conv = t["chars.conv.weight"]  # [F, E, k]
            self.conv_k = conv.shape[2]
            self.conv_w = np.ascontiguousarray(conv.transpose(2, 1, 0).reshape(-1, conv.shape[0]))  # [k*E, F]
            self.conv_b = t["chars.conv.bias"]
        self.stack = RNNStack(cfg.cell, t, cfg.layers, bidirectional=bidirectional, prefix="rnn.")
        self.type_row: dict[str, int] = {}
        self.type_gates = [np.zeros((0, 0), dtype=np.float32) for _ in range(self.stack.dirs)]

    # --- features -------------------------------------------------------------------------
    def char_features(self, words: Sequence[str]) -> np.ndarray:
        """Character-CNN vectors [N, F] for distinct words, computed for words of one length
        at a time: one long word (a URL) would otherwise pad every other word to its length."""
        ids = [self.cfg.char_ids(w) for w in words]
        out = np.empty((len(words), self.conv_w.shape[1]), dtype=np.float32)
        by_length: dict[int, list[int]] = {}
        for n, row in enumerate(ids):
            by_length.setdefault(len(row), []).append(n)
        pad = self.conv_k // 2
        for L, rows in by_length.items():
            mat = np.zeros((len(rows), L + 2 * pad), dtype=np.int64)
            mat[:, pad: pad + L] = [ids[n] for n in rows]
            emb = self.char_emb[mat]  # [n, L+2p, E]; id 0 rows are zero (padding_idx)
            emb[mat == 0] = 0.0
            cols = np.concatenate([emb[:, j: j + L] for j in range(self.conv_k)], axis=2)  # [n, L, k*E]
            h = cols @ self.conv_w
            out[rows] = h.max(axis=1)
        out += self.conv_b  # max(x + b) = max(x) + b, then ReLU: the same as ReLU first
        np.maximum(out, 0.0, out=out)
        return out

    def type_features(self, words: Sequence[str]) -> np.ndarray:
        """First-layer inputs [N, word_emb + char + case] for distinct words."""
        parts = [self.word_emb[[self.cfg.word_id(w) for w in words]]]
        if self.cfg.char_filters:
            parts.append(self.char_features(words))
        if self.case_emb is not None:
            parts.append(self.case_emb[[casing(w) for w in words]])
        return np.concatenate(parts, axis=1)

    def gate_rows(self, words: Sequence[str]) -> np.ndarray:
        """Rows of the ``type_gates`` tables for each word, computing the new types (in one batch)."""
        rows = self.type_row
        new = [w for w in dict.fromkeys(words) if w not in rows]
        if new:
            if len(rows) + len(new) > TYPE_CACHE_LIMIT:  # bounded memory on huge vocabularies
                rows.clear()
                new = list(dict.fromkeys(words))
            feats = self.type_features(new)
            start = len(rows)
            for d, table in enumerate(self.type_gates):
                gates = self.stack.input_gates(feats, d)
                if start + len(new) > len(table):
                    grown = np.zeros((max(2 * (start + len(new)), 1024), gates.shape[1]), dtype=np.float32)
                    if start:
                        grown[:start] = table[:start]
                    table = self.type_gates[d] = grown
                table[start: start + len(new)] = gates
            for i, w in enumerate(new):
                rows[w] = start + i
        return np.fromiter((rows[w] for w in words), dtype=np.int64, count=len(words))

    def in_vocabulary(self, word: str) -> bool:
        return self.cfg.word_id(word) != 1

    # --- the recurrent stack --------------------------------------------------------------
    def run_packed(self, sequences: Sequence[Sequence[str]]):
        """Run the stack over token lists (any lengths, none empty): (top-layer outputs
        [N, H * dirs] packed, final state, the packing)."""
        packing = Packing.of([len(s) for s in sequences])
        rows = self.gate_rows([w for s in sequences for w in s])  # may grow the tables: index after
        packed_rows = np.empty_like(rows)
        packed_rows[packing.token_rows()] = rows
        out, state = self.stack.forward_packed(None, packing, first_gates=self.type_gates, first_rows=packed_rows)
        return out, state, packing

    def run(self, sequences: Sequence[Sequence[str]]):
        """``run_packed`` with the outputs sentence after sentence."""
        out, state, packing = self.run_packed(sequences)
        return out[packing.token_rows()], state, packing
