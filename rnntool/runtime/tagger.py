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
        self.char_cache: dict[str, np.ndarray] = {}
        self.word_cache: dict[str, tuple[int, int]] = {}
        self.tags = self.cfg.tags

    @classmethod
    def load(cls, path) -> "Tagger":
        return cls(load_model(path, kind="tagger"))

    # --- features -------------------------------------------------------------------------
    def char_features(self, words: Sequence[str]) -> np.ndarray:
        """Character-CNN vectors [N, F]; each word type is computed once and cached."""
        new = [w for w in dict.fromkeys(words) if w not in self.char_cache]
        if new:
            ids = [self.cfg.char_ids(w) for w in new]
            L = max(len(i) for i in ids)
            pad = self.conv_k // 2
            mat = np.zeros((len(new), L + 2 * pad), dtype=np.int64)
            for n, row in enumerate(ids):
                mat[n, pad: pad + len(row)] = row
            emb = self.char_emb[mat]  # [N, L+2p, E]; id 0 rows are zero (padding_idx)
            emb[mat == 0] = 0.0
            cols = np.concatenate([emb[:, j: j + L] for j in range(self.conv_k)], axis=2)  # [N, L, k*E]
            h = cols @ self.conv_w + self.conv_b
            np.maximum(h, 0.0, out=h)
            valid = np.arange(L)[None, :] < np.array([len(i) for i in ids])[:, None]
            h[~valid] = 0.0
            feats = h.max(axis=1)
            for w, f in zip(new, feats):
                self.char_cache[w] = f
        return np.stack([self.char_cache[w] for w in words])

    def word_features(self, words: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        cache = self.word_cache
        out = []
        for w in words:
            f = cache.get(w)
            if f is None:
                f = cache[w] = (self.cfg.word_id(w), casing(w))
            out.append(f)
        arr = np.array(out, dtype=np.int64).reshape(-1, 2)
        return arr[:, 0], arr[:, 1]

    # --- tagging --------------------------------------------------------------------------
    def emissions(self, sentences: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """Scores [B, T, K] and lengths [B] for a batch of token lists."""
        lengths = np.array([len(s) for s in sentences])
        B, T = len(sentences), int(lengths.max())
        flat = [w for s in sentences for w in s]
        word_ids, case_ids = self.word_features(flat)
        parts = [self.word_emb[word_ids]]
        if self.cfg.char_filters:
            parts.append(self.char_features(flat))
        if self.case_emb is not None:
            parts.append(self.case_emb[case_ids])
        feats = np.concatenate(parts, axis=1)
        x = np.zeros((T, B, feats.shape[1]), dtype=np.float32)
        pos = np.concatenate([np.arange(n) for n in lengths])
        row = np.repeat(np.arange(B), lengths)
        x[pos, row] = feats
        out, _ = self.stack.forward(x, None, lengths)  # [T, B, 2H]
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
            end = start + 1
            while end < len(pieces) and (end - start + 1) * len(pieces[end][2]) <= MAX_BATCH_TOKENS:
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
