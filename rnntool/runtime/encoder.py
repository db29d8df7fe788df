"""The recurrent text encoder on the numpy runtime, shared by the tagger and the
classifier: token features (word embedding, character CNN computed once per word
type, casing) and the packed recurrent stack.

Every first-layer input depends on the word string alone, so it is computed once per
word type and kept in a table: on the numpy engine the input projection itself, per
direction one row of gate inputs per type, read a step at a time by the scan; on
onnxruntime (rnntool.runtime.ort) the features, which its operators project.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from rnntool.features import EncoderConfig, casing
from rnntool.runtime.cells import Packing, RNNStack
from rnntool.runtime.charlm import CharLMFeatures
from rnntool.runtime.ort import OrtStack, packed_engine

ORT_GROUP = 128  # sequences per onnxruntime call, of similar lengths (``TextEncoder._run_ort``)
CHAR_WINDOWS = 65_536  # character positions convolved in one product (~25 MB of windows at 3 x 32)
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
        # a tagger's character language models (--char-lm): contextual features per token beside
        # the per-type ones, so the first layer's inputs are no longer a per-type table; such a
        # model runs on numpy whatever the engine
        self.char_lm = CharLMFeatures(cfg.char_lms, t) if getattr(cfg, "char_lms", None) else None
        self.engine = packed_engine() if self.char_lm is None else "numpy"
        self.ort = None  # the onnxruntime session, made on first use
        self.type_row: dict[str, int] = {}
        # per word type: first-layer gate inputs per direction (numpy), or the features
        # (onnxruntime, and beside character-LM features)
        self.tables_hold_features = self.engine == "onnxruntime" or self.char_lm is not None
        tables = 1 if self.tables_hold_features else self.stack.dirs
        self.type_tables = [np.zeros((0, 0), dtype=np.float32) for _ in range(tables)]

    # --- features -------------------------------------------------------------------------
    def char_features(self, words: Sequence[str]) -> np.ndarray:
        """Character-CNN vectors [N, F] for distinct words. The words' characters lie in one
        row, each word set off by ``conv_k - 1`` padding positions, so one matrix product over
        the row's windows convolves them all and each word's maximum is a reduction over its
        own stretch of windows; a long word (a URL) costs only its own length."""
        ids, lengths = self.cfg.char_id_array(words)
        k, pad = self.conv_k, self.conv_k // 2
        out = np.empty((len(words), self.conv_w.shape[1]), dtype=np.float32)
        ends = np.cumsum(lengths)
        row_ends = ends + np.arange(len(ends)) * (k - 1)  # where each word ends in one row of them all
        first = 0
        while first < len(words):  # words in groups of about CHAR_WINDOWS windows: bounded memory
            last = max(first + 1, int(np.searchsorted(row_ends, row_ends[first] - lengths[first] + CHAR_WINDOWS)))
            n = lengths[first:last]
            starts = pad + np.arange(last - first) * (k - 1) + np.cumsum(n) - n  # each word's first character
            row = np.zeros(int(starts[-1] + n[-1]) + k, dtype=np.int64)  # padding id 0 between and around
            positions = np.repeat(starts - (ends[first:last] - n), n) + np.arange(ends[first] - n[0], ends[last - 1])
            row[positions] = ids[ends[first] - n[0]: ends[last - 1]]
            emb = self.char_emb[row]
            emb[row == 0] = 0.0  # padding contributes nothing (torch's padding_idx row)
            windows = np.concatenate([emb[j: len(row) - k + 1 + j] for j in range(k)], axis=1)  # [W, k*E]
            h = windows @ self.conv_w
            # each word's maximum over its own windows, longest words first: the words still
            # going at window p are a leading block (np.maximum.reduceat is 4x slower here)
            order = np.argsort(-n, kind="stable")
            begin, size = starts[order] - pad, n[order]
            best = h[begin]
            for p, running in enumerate(np.searchsorted(-size, -np.arange(1, size[0]), side="left").tolist(), 1):
                np.maximum(best[:running], h[begin[:running] + p], out=best[:running])
            out[first + order] = best
            first = last
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

    def type_values(self, words: Sequence[str]) -> list[np.ndarray]:
        """What the type tables hold for distinct words (see the module's docstring)."""
        feats = self.type_features(words)
        if self.tables_hold_features:
            return [feats]
        return [self.stack.input_gates(feats, d) for d in range(self.stack.dirs)]

    def type_rows(self, words: Sequence[str]) -> np.ndarray:
        """Rows of the ``type_tables`` for each word, computing the new types (in one batch)."""
        rows = self.type_row
        new = [w for w in dict.fromkeys(words) if w not in rows]
        if new:
            if len(rows) + len(new) > TYPE_CACHE_LIMIT:  # bounded memory on huge vocabularies
                rows.clear()
                new = list(dict.fromkeys(words))
            start = len(rows)
            for d, (table, values) in enumerate(zip(self.type_tables, self.type_values(new))):
                if start + len(new) > len(table):
                    grown = np.zeros((max(2 * (start + len(new)), 1024), values.shape[1]), dtype=np.float32)
                    if start:
                        grown[:start] = table[:start]
                    table = self.type_tables[d] = grown
                table[start: start + len(new)] = values
            for i, w in enumerate(new):
                rows[w] = start + i
        return np.fromiter((rows[w] for w in words), dtype=np.int64, count=len(words))

    def in_vocabulary(self, word: str) -> bool:
        return self.cfg.word_id(word) != 1

    # --- the recurrent stack --------------------------------------------------------------
    def run_packed(self, sequences: Sequence[Sequence[str]]):
        """Run the stack over token lists (any lengths, none empty): (top-layer outputs
        [N, H * dirs] packed, final state, the packing)."""
        lengths = [len(s) for s in sequences]
        packing = Packing.of(lengths)
        rows = self.type_rows([w for s in sequences for w in s])  # may grow the tables: index after
        packed_rows = np.empty_like(rows)
        packed_rows[packing.token_rows()] = rows
        if self.engine == "onnxruntime":
            return (*self._run_ort(lengths, packing, packed_rows), packing)
        if self.char_lm is not None:
            features = self.type_tables[0]
            x = np.empty((len(rows), features.shape[1] + self.char_lm.size), dtype=np.float32)
            x[:, : features.shape[1]] = features[packed_rows]
            x[packing.token_rows(), features.shape[1]:] = self.char_lm(sequences)
            out, state = self.stack.forward_packed(x, packing)
            return out, state, packing
        out, state = self.stack.forward_packed(None, packing, first_gates=self.type_tables, first_rows=packed_rows)
        return out, state, packing

    def _run_ort(self, lengths: list[int], packing: Packing, packed_rows: np.ndarray):
        """``run_packed`` on onnxruntime: its operators take dense [T, B, I] inputs and step
        every row to the longest, so the sequences go in groups of similar lengths (shortest
        first, ``ORT_GROUP`` at a time), each padded only to its own longest."""
        if self.ort is None:
            self.ort = OrtStack(self.stack)
        features = self.type_tables[0]
        t, b = packing.dense_index()
        lengths = np.asarray(lengths)
        out = np.empty((len(packed_rows), self.stack.hidden * self.stack.dirs), dtype=np.float32)
        H, layers_dirs = self.stack.hidden, self.stack.layers * self.stack.dirs
        h_n = np.zeros((layers_dirs, len(lengths), H), dtype=np.float32)
        c_n = np.zeros_like(h_n) if self.stack.cell == "lstm" else None
        by_length = np.argsort(lengths, kind="stable")
        row_of = np.full((len(packing.batch_sizes), len(lengths)), -1, dtype=np.int64)  # (step, sequence) -> row
        row_of[t, b] = np.arange(len(t))
        for start in range(0, len(lengths), ORT_GROUP):
            group = by_length[start: start + ORT_GROUP]
            T = int(lengths[group].max())
            rows = row_of[:T, group]  # [T, G], -1 past a sequence's end
            x = np.zeros((T, len(group), features.shape[1]), dtype=np.float32)
            present = rows >= 0
            x[present] = features[packed_rows[rows[present]]]  # each token's row of the type table
            y, state = self.ort.run(x, lengths[group])
            out[rows[present]] = y[present]
            if c_n is not None:
                h_n[:, group], c_n[:, group] = state
            else:
                h_n[:, group] = state
        return out, ((h_n, c_n) if c_n is not None else h_n)

    def run(self, sequences: Sequence[Sequence[str]]):
        """``run_packed`` with the outputs sentence after sentence."""
        out, state, packing = self.run_packed(sequences)
        return out[packing.token_rows()], state, packing
