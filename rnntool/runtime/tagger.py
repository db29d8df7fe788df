"""A trained tagger on the numpy runtime: the shared text encoder (runtime/encoder.py),
then per-token scores with softmax or CRF (Viterbi) decoding."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rnntool.modelfile import ModelFile
from rnntool.runtime import load_runtime
from rnntool.runtime.cells import log_softmax
from rnntool.runtime.encoder import TextEncoder, token_budget_batches
from rnntool.tagging import TaggerConfig

MAX_SENTENCE = 1000  # longer "sentences" are tagged in pieces of this many tokens (bounded memory)
MAX_BATCH_TOKENS = 32768  # tokens per forward pass (packed: no padding)
MAX_PADDED_CELLS = 65536  # sentences x longest length per CRF decoding group


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
        probs = np.exp(log_softmax(emissions))
        return ids, np.take_along_axis(probs, ids[..., None], axis=-1)[..., 0]
    transitions, start, end = crf
    ids = viterbi(emissions, lengths, transitions, start, end)
    if not confidences:
        return ids, None
    post = crf_marginals(emissions.astype(np.float64), lengths, transitions, start, end)
    return ids, np.take_along_axis(post, ids[..., None], axis=-1)[..., 0]


def _pad(scores: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Token rows [N, K] (sentence after sentence) -> [B, T, K], zero past each end."""
    B, T = len(lengths), int(lengths.max())
    mask = np.arange(T)[None, :] < lengths[:, None]
    out = np.zeros((B, T, scores.shape[1]), dtype=scores.dtype)
    out[mask] = scores
    return out


def decode_tokens(scores: np.ndarray, lengths: np.ndarray, crf=None, confidences: bool = False):
    """decode_batch for token rows [N, K] (sentence after sentence): (ids [N], confidences [N] or None).
    CRF decoding needs padded [B, T, K] arrays: sentences go through it in groups of
    similar length, so padding stays small however long the longest one is."""
    if crf is None:
        ids = scores.argmax(axis=1)
        if not confidences:
            return ids, None
        probs = np.exp(log_softmax(scores))
        return ids, probs[np.arange(len(ids)), ids]
    ids = np.empty(len(scores), dtype=np.int64)
    conf = np.empty(len(scores)) if confidences else None
    starts = np.cumsum(lengths) - lengths
    order = np.argsort(lengths, kind="stable")
    i = 0
    while i < len(order):
        j = i + 1
        while j < len(order) and (j - i + 1) * lengths[order[j]] <= MAX_PADDED_CELLS:
            j += 1
        group = order[i:j]
        glen = lengths[group]
        rows = np.repeat(starts[group] - (np.cumsum(glen) - glen), glen) + np.arange(glen.sum())
        g_ids, g_conf = decode_batch(_pad(scores[rows], glen), glen, crf, confidences)
        mask = np.arange(g_ids.shape[1])[None, :] < glen[:, None]
        ids[rows] = g_ids[mask]
        if conf is not None:
            conf[rows] = g_conf[mask]
        i = j
    return ids, conf


class TaggerRuntime:
    def __init__(self, model: ModelFile):
        self.model_file = model
        self.cfg = TaggerConfig.from_dict(model.config)
        t = {k: np.asarray(v, dtype=np.float32) for k, v in model.tensors.items()}
        self.encoder = TextEncoder(self.cfg, t)
        self.out_w = np.ascontiguousarray(t["output.weight"].T)
        self.out_b = t["output.bias"]
        self.crf = (t["crf.transitions"], t["crf.start"], t["crf.end"]) if self.cfg.crf else None
        self.tags = self.cfg.tags
        self.tag_names = np.array(self.tags, dtype=object)  # ids -> names in one indexing

    @classmethod
    def load(cls, path) -> "TaggerRuntime":
        return load_runtime(cls, path, "tagger")

    def probe(self) -> None:
        """The last word and character of the vocabularies, through the whole model."""
        scores = self.token_scores([[self.cfg.words[-1], self.cfg.chars[-1] * 2]])
        if scores.shape[1] != len(self.cfg.tags):
            raise ValueError(f"{scores.shape[1]} tag scores for {len(self.cfg.tags)} tags")

    # --- tagging --------------------------------------------------------------------------
    def token_scores(self, sentences: Sequence[Sequence[str]]) -> np.ndarray:
        """Output scores [N, K] for every token of a batch of non-empty token lists,
        sentence after sentence. The BiLSTM runs on packed rows: no padding."""
        out, _, _ = self.encoder.run(sentences)
        scores = out @ self.out_w
        scores += self.out_b
        return scores

    def emissions(self, sentences: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """Scores [B, T, K] (zero past each end) and lengths [B] for non-empty token lists."""
        lengths = np.array([len(s) for s in sentences])
        return _pad(self.token_scores(sentences), lengths), lengths

    def tag(self, sentences: Sequence[Sequence[str]], confidences: bool = False):
        """Tags (and, if asked, confidences) for each sentence, in order."""
        tags_out: list = [[] for _ in sentences]
        conf_out: list = [[] for _ in sentences]
        pieces = []  # (sentence index, tokens): pieces of one sentence stay in order
        for i, s in enumerate(sentences):
            if len(s) > MAX_SENTENCE:
                pieces.extend((i, s[off: off + MAX_SENTENCE]) for off in range(0, len(s), MAX_SENTENCE))
            elif s:
                pieces.append((i, s))
        for sl in token_budget_batches([len(p[1]) for p in pieces], MAX_BATCH_TOKENS):
            batch = pieces[sl]
            lengths = np.array([len(p[1]) for p in batch])
            scores = self.token_scores([p[1] for p in batch])
            ids, conf = decode_tokens(scores, lengths, self.crf, confidences)
            names = self.tag_names[ids].tolist()
            conf = None if conf is None else conf.tolist()
            at = 0
            for (i, _), n in zip(batch, lengths.tolist()):
                tags_out[i] += names[at: at + n]
                if conf is not None:
                    conf_out[i] += conf[at: at + n]
                at += n
        return tags_out, (conf_out if confidences else None)

    def in_vocabulary(self, word: str) -> bool:
        return self.encoder.in_vocabulary(word)
