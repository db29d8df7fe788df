"""A trained tagger on the numpy runtime: features, character CNN (computed once
per word type), BiLSTM, softmax or CRF (Viterbi) decoding."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rnntool.modelfile import ModelFile, load_model
from rnntool.runtime.cells import RNNStack
from rnntool.tagging import TaggerConfig, casing

MAX_SENTENCE = 1000  # longer "sentences" are tagged in pieces of this many tokens (bounded memory)
MAX_BATCH_TOKENS = 16384
TYPE_CACHE_LIMIT = 20_000  # word types whose first-layer gates are kept (~4 KB each at hidden 128)


def _log_softmax(x: np.ndarray) -> np.ndarray:
    m = x.max(axis=-1, keepdims=True)
    s = x - m
    return s - np.log(np.exp(s).sum(axis=-1, keepdims=True))


def viterbi(emissions: np.ndarray, lengths: np.ndarray, transitions, start, end) -> np.ndarray:
    """Best tag paths [B, T] for emissions [B, T, K] (positions past a length are ignored)."""
    B, T, K = emissions.shape
    score = start + emissions[:, 0]  # [B, K]
    back = np.zeros((T, B, K), dtype=np.int64)
    for t in range(1, T):
        cand = score[:, :, None] + transitions[None]  # [B, from, to]
        best_prev = cand.argmax(axis=1)
        new = np.take_along_axis(cand, best_prev[:, None, :], axis=1)[:, 0] + emissions[:, t]
        active = (t < lengths)[:, None]
        score = np.where(active, new, score)
        back[t] = np.where(active, best_prev, np.arange(K)[None, :])  # inactive: stay put
    score = score + end
    paths = np.zeros((B, T), dtype=np.int64)
    last = score.argmax(axis=1)
    for t in range(T - 1, -1, -1):
        paths[:, t] = last
        if t > 0:
            last = back[t, np.arange(B), last]
    return paths


def crf_marginals(emissions: np.ndarray, lengths: np.ndarray, transitions, start, end) -> np.ndarray:
    """Per-token posterior tag probabilities [B, T, K] (forward-backward in log space)."""
    B, T, K = emissions.shape
    alpha = np.zeros((T, B, K))
    beta = np.zeros((T, B, K))
    alpha[0] = start + emissions[:, 0]
    for t in range(1, T):
        a = np.logaddexp.reduce(alpha[t - 1][:, :, None] + transitions[None], axis=1) + emissions[:, t]
        alpha[t] = np.where((t < lengths)[:, None], a, alpha[t - 1])
    last = lengths - 1
    beta_end = np.broadcast_to(end, (B, K)).astype(np.float64)
    for t in range(T - 1, -1, -1):
        at_end = (t == last)[:, None]
        if t == T - 1:
            beta[t] = np.where(at_end, beta_end, 0.0)
            continue
        b = np.logaddexp.reduce(transitions[None] + (emissions[:, t + 1] + beta[t + 1])[:, None, :], axis=2)
        beta[t] = np.where(at_end, beta_end, np.where((t < last)[:, None], b, 0.0))
    log_z = np.logaddexp.reduce(alpha[last, np.arange(B)] + end, axis=1)
    post = np.exp(alpha + beta - log_z[None, :, None])
    return post.transpose(1, 0, 2)


def decode_batch(emissions: np.ndarray, lengths: np.ndarray, crf=None, confidences: bool = False):
    """(tag ids [B, T], confidence of each chosen tag [B, T] or None)."""
    if crf is None:
        ids = emissions.argmax(axis=-1)
        if not confidences:
            return ids, None
        probs = np.exp(_log_softmax(emissions))
        return ids, np.take_along_axis(probs, ids[..., None], axis=-1)[..., 0]
    transitions, start, end = crf
    ids = viterbi(emissions, lengths, transitions, start, end)
    if not confidences:
        return ids, None
    post = crf_marginals(emissions.astype(np.float64), lengths, transitions, start, end)
    return ids, np.take_along_axis(post, ids[..., None], axis=-1)[..., 0]


class Tagger:
    def __init__(self, model: ModelFile):
        self.model_file = model
        self.cfg = TaggerConfig.from_dict(model.config)
        t = {k: np.asarray(v, dtype=np.float32) for k, v in model.tensors.items()}
        self.word_emb = t["word_embedding.weight"]
        self.case_emb = t.get("case_embedding.weight")
        if self.cfg.char_filters:
            self.char_emb = t["chars.embedding.weight"]
            conv = t["chars.conv.weight"]  # [F, E, k]
            self.conv_k = conv.shape[2]
            self.conv_w = np.ascontiguousarray(conv.transpose(2, 1, 0).reshape(-1, conv.shape[0]))  # [k*E, F]
            self.conv_b = t["chars.conv.bias"]
        self.stack = RNNStack(self.cfg.cell, t, self.cfg.layers, bidirectional=True, prefix="rnn.")
        self.out_w = np.ascontiguousarray(t["output.weight"].T)
        self.out_b = t["output.bias"]
        self.crf = (t["crf.transitions"], t["crf.start"], t["crf.end"]) if self.cfg.crf else None
        # Every first-layer input (word, case and character features) depends on the
        # word string alone, so its input projection is computed once per word type
        # and kept here: one row of gate inputs (both directions) per type.
        self.type_row: dict[str, int] = {}
        self.type_gates = np.zeros((0, 0), dtype=np.float32)
        self.tags = self.cfg.tags

    @classmethod
    def load(cls, path) -> "Tagger":
        return cls(load_model(path, kind="tagger"))

    # --- features -------------------------------------------------------------------------
    def char_features(self, words: Sequence[str]) -> np.ndarray:
        """Character-CNN vectors [N, F] for distinct words."""
        ids = [self.cfg.char_ids(w) for w in words]
        L = max(len(i) for i in ids)
        pad = self.conv_k // 2
        mat = np.zeros((len(words), L + 2 * pad), dtype=np.int64)
        for n, row in enumerate(ids):
            mat[n, pad: pad + len(row)] = row
        emb = self.char_emb[mat]  # [N, L+2p, E]; id 0 rows are zero (padding_idx)
        emb[mat == 0] = 0.0
        cols = np.concatenate([emb[:, j: j + L] for j in range(self.conv_k)], axis=2)  # [N, L, k*E]
        h = cols @ self.conv_w + self.conv_b
        np.maximum(h, 0.0, out=h)
        valid = np.arange(L)[None, :] < np.array([len(i) for i in ids])[:, None]
        h[~valid] = 0.0
        return h.max(axis=1)

    def type_features(self, words: Sequence[str]) -> np.ndarray:
        """First-layer inputs [N, word_emb + char + case] for distinct words."""
        parts = [self.word_emb[[self.cfg.word_id(w) for w in words]]]
        if self.cfg.char_filters:
            parts.append(self.char_features(words))
        if self.case_emb is not None:
            parts.append(self.case_emb[[casing(w) for w in words]])
        return np.concatenate(parts, axis=1)

    def gate_rows(self, words: Sequence[str]) -> np.ndarray:
        """Rows of ``type_gates`` for each word, computing the new types (in one batch)."""
        rows = self.type_row
        new = [w for w in dict.fromkeys(words) if w not in rows]
        if new:
            if len(rows) + len(new) > TYPE_CACHE_LIMIT:  # bounded memory on huge vocabularies
                rows.clear()
                new = list(dict.fromkeys(words))
            feats = self.type_features(new)
            gates = np.concatenate([self.stack.input_gates(feats, d) for d in range(self.stack.dirs)], axis=1)
            start = len(rows)
            if start + len(new) > len(self.type_gates):
                grown = np.zeros((max(2 * (start + len(new)), 1024), gates.shape[1]), dtype=np.float32)
                if start:
                    grown[:start] = self.type_gates[:start]
                self.type_gates = grown
            self.type_gates[start: start + len(new)] = gates
            for i, w in enumerate(new):
                rows[w] = start + i
        return np.fromiter((rows[w] for w in words), dtype=np.int64, count=len(words))

    # --- tagging --------------------------------------------------------------------------
    def emissions(self, sentences: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """Scores [B, T, K] and lengths [B] for a batch of token lists."""
        lengths = np.array([len(s) for s in sentences])
        B, T = len(sentences), int(lengths.max())
        rows = self.gate_rows([w for s in sentences for w in s])  # may grow type_gates: index after
        gates = self.type_gates[rows]
        x = np.zeros((T, B, gates.shape[1]), dtype=np.float32)
        pos = np.concatenate([np.arange(n) for n in lengths])
        row = np.repeat(np.arange(B), lengths)
        x[pos, row] = gates
        per_dir = np.split(x, self.stack.dirs, axis=2)
        out, _ = self.stack.forward(None, None, lengths, first_gates=per_dir)  # [T, B, 2H]
        scores = out @ self.out_w + self.out_b
        return scores.transpose(1, 0, 2), lengths

    def tag(self, sentences: Sequence[Sequence[str]], confidences: bool = False):
        """Tags (and, if asked, confidences) for each sentence, in order."""
        tags_out: list = [None] * len(sentences)
        conf_out: list = [None] * len(sentences)
        pieces = []  # (sentence index, offset, tokens)
        for i, s in enumerate(sentences):
            if not s:
                tags_out[i], conf_out[i] = [], []
                continue
            for off in range(0, len(s), MAX_SENTENCE):
                pieces.append((i, off, list(s[off: off + MAX_SENTENCE])))
        pieces.sort(key=lambda p: len(p[2]))
        results = {}
        start = 0
        while start < len(pieces):
            # Pieces are sorted by length: a batch takes the next ones while they are at
            # most ~25% longer than its first (little padding) and fit the token cap.
            end, longest = start + 1, int(len(pieces[start][2]) * 1.25) + 1
            while (end < len(pieces) and len(pieces[end][2]) <= longest
                   and (end - start + 1) * len(pieces[end][2]) <= MAX_BATCH_TOKENS):
                end += 1
            batch = pieces[start:end]
            em, lengths = self.emissions([p[2] for p in batch])
            ids, conf = decode_batch(em, lengths, self.crf, confidences)
            for row, (i, off, toks) in enumerate(batch):
                n = len(toks)
                results[(i, off)] = ([self.tags[t] for t in ids[row, :n]], None if conf is None else conf[row, :n].tolist())
            start = end
        for (i, off), (t, c) in sorted(results.items()):
            tags_out[i] = (tags_out[i] or []) + t
            if c is not None:
                conf_out[i] = (conf_out[i] or []) + c
        return tags_out, (conf_out if confidences else None)

    def in_vocabulary(self, word: str) -> bool:
        return self.cfg.word_id(word) != 1
